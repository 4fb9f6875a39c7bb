// scripts/lib/bench-raw.mjs JSON: the "raw" tool of scripts/bench: one workload done
// directly with @aws-sdk/client-s3 (the practical ceiling for a FUSE mount).
// JSON: {op, endpoint, bucket, ...op arguments}.  Prints one JSON line on stdout:
//   {seconds, bytes, count, sha256?, ops?, rss}
// The clock starts after the client is made and one HeadBucket has opened a
// connection (a fresh mount has done the same when it is ready).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, createReadStream } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MiB, client, listAll, pool, selfPeakRss } from './bench-s3.mjs';

const a = JSON.parse(process.argv[2]);
const Bucket = a.bucket;
const s3 = client(a.endpoint, { sockets: 128 });
await s3.send(new HeadBucketCommand({ Bucket }));

/** GET a range, return the bytes (as one Buffer when keep, else only the length) */
async function getRange(Key, start, end, keep) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}` }));
  const chunks = [];
  let n = 0;
  for await (const c of r.Body) { n += c.length; if (keep) chunks.push(c); }
  if (n !== end - start + 1) throw new Error(`${Key} ${start}-${end}: got ${n} bytes`);
  return keep ? Buffer.concat(chunks) : n;
}

/** Sequential read of one object as parallel ranged GETs, `inflight` at once. */
async function readObject(Key, size, requestBytes, inflight, hash) {
  const parts = Math.ceil(size / requestBytes);
  const h = hash ? createHash('sha256') : undefined;
  const done = new Map();
  let nextHash = 0;
  let bytes = 0;
  await pool(parts, inflight, async (i) => {
    const start = i * requestBytes;
    const end = Math.min(size, start + requestBytes) - 1;
    const got = await getRange(Key, start, end, !!h);
    if (h) {
      done.set(i, got);
      while (done.has(nextHash)) { const b = done.get(nextHash); done.delete(nextHash++); h.update(b); bytes += b.length; }
    } else bytes += got;
  });
  return { bytes, sha256: h?.digest('hex') };
}

const ops = {
  async seqread() {
    return readObject(a.key, a.size, a.requestBytes ?? 8 * MiB, a.inflight ?? 16, a.hash);
  },
  async multiread() {
    const per = await Promise.all(a.keys.map((k) => readObject(k, a.size, a.requestBytes ?? 8 * MiB, a.inflight ?? 2, a.hash)));
    return { bytes: per.reduce((s, r) => s + r.bytes, 0), sha256s: a.hash ? per.map((r) => r.sha256) : undefined };
  },
  async seqwrite() {
    const up = new Upload({
      client: s3,
      params: { Bucket, Key: a.key, Body: createReadStream(a.file, { highWaterMark: 1 * MiB }) },
      partSize: a.partSize ?? 8 * MiB,
      queueSize: a.queueSize ?? 8,
    });
    await up.done();
    return { bytes: a.size };
  },
  async randread() {
    const blocks = Math.floor(a.size / 4096);
    const deadline = Date.now() + a.runtime * 1000;
    let count = 0;
    await Promise.all(Array.from({ length: a.jobs }, async () => {
      while (Date.now() < deadline) {
        const b = Math.floor(Math.random() * blocks);
        await getRange(a.key, b * 4096, b * 4096 + 4095, false);
        count++;
      }
    }));
    return { count, iops: count / a.runtime };
  },
  async ls() {
    const r = await listAll(s3, Bucket, a.prefix, { delimiter: '/' });
    return { count: r.objects.length + r.prefixes.length };
  },
  async find() {
    const r = await listAll(s3, Bucket, a.prefix);
    return { count: r.filter((o) => !o.key.endsWith('/')).length }; // not directory markers
  },
  async smallput() {
    const names = readdirSync(a.dir).sort();
    await pool(names.length, a.inflight ?? 32, async (i) => {
      const Body = readFileSync(join(a.dir, names[i]));
      await s3.send(new PutObjectCommand({ Bucket, Key: a.prefix + names[i], Body }));
    });
    return { count: names.length };
  },
  async smallget() {
    const keys = (await listAll(s3, Bucket, a.prefix, { delimiter: '/' })).objects.map((o) => o.key).sort();
    const bodies = new Array(keys.length);
    await pool(keys.length, a.inflight ?? 32, async (i) => {
      const r = await s3.send(new GetObjectCommand({ Bucket, Key: keys[i] }));
      bodies[i] = Buffer.from(await r.Body.transformToByteArray());
    });
    const h = createHash('sha256');
    for (const b of bodies) h.update(b);
    return { count: keys.length, bytes: bodies.reduce((s, b) => s + b.length, 0), sha256: h.digest('hex') };
  },
};

const op = ops[a.op];
if (!op) throw new Error(`unknown op ${a.op}`);
const t0 = process.hrtime.bigint();
const r = await op();
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
s3.destroy();
process.stdout.write(JSON.stringify({ ...r, seconds, rss: selfPeakRss(), cpu: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 }) + '\n');
