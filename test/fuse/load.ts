// Load: 16 worker processes for 2 minutes of mixed writes, reads, listings, renames and
// deletes on one mount, while 16 more do the same on a second mount of the same bucket
// (two compute nodes). Then: no unexpected error, every byte checked against S3, the
// daemons' peak RSS within --memory-limit + 100 MiB, and no descriptor or staging file
// left behind. Small files only (RGW keeps objects in RAM).
//
// What is expected (test/fixtures/load-worker.mjs): in a worker's own directory, nothing
// fails and every read and listing is exactly what it wrote; on the shared names, ENOENT
// (another process deleted or renamed over it) and ESTALE (replaced by another process
// while read; EIO on s3rver, which ignores If-Match). Anything else, and any read that
// is not one whole version, is unexpected.
//
// S3_TEST_LOAD_SECONDS (default 120, the issue's figure, on Ceph RGW, our users' server;
// 60 on s3rver, where the suite runs it a second time) and S3_TEST_LOAD_WORKERS (per
// mount, default 16) scale it. The figures are printed as tap comments.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { POOL_IDLE_MS } from '../../src/s3/sdk-store.js';
import { eventually, sha256 } from '../fixtures/helpers.js';
import { mount, type Mounted } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const SECONDS = Number(process.env.S3_TEST_LOAD_SECONDS ?? (kind === 's3rver' ? 60 : 120));
const WORKERS = Number(process.env.S3_TEST_LOAD_WORKERS ?? 16);
const WORKER = fileURLToPath(new URL('../fixtures/load-worker.mjs', import.meta.url));
/** a budget well under the default (512M), so that the RSS bound below means something */
const MEMORY_LIMIT_MIB = 256;
/** docs/CONFIGURATION.md: "The process uses about this plus 100 MiB" */
const RSS_ALLOWANCE_MIB = 100;

interface WorkerResult {
  id: string;
  fatal?: string;
  ops: Record<string, number>;
  expected: Record<string, number>;
  unexpected: Array<{ op: string; path: string; code: string; message: string }>;
  files: Record<string, string>;
  bytesWritten: number;
  bytesRead: number;
}

/**
 * s3rver ignores If-Match on GetObject (DEVELOPERS.md, known gaps): a read pinned to a
 * version another process replaced gets the new version's answer instead of 412, which
 * the mount's checks refuse (its length or ETag is not the one asked) with EIO rather
 * than ESTALE. Real S3 and RGW answer 412.
 */
const SHARED_READ_ALLOW = kind === 's3rver' ? ['EIO'] : [];

function runWorker(root: string, id: string, seed: number): Promise<WorkerResult> {
  return new Promise((resolve) => {
    const cfg = { root, id, seconds: SECONDS, seed, sharedReadAllow: SHARED_READ_ALLOW };
    const child = spawn(process.execPath, [WORKER, JSON.stringify(cfg)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // a worker stuck in the filesystem is itself a failure: its result says so
    const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 180) * 1000);
    child.on('close', (status) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as WorkerResult);
      } catch {
        resolve({
          id,
          fatal: `exit ${status}: ${err.slice(0, 500)}`,
          ops: {},
          expected: {},
          unexpected: [],
          files: {},
          bytesWritten: 0,
          bytesRead: 0,
        });
      }
    });
  });
}

/** A /proc/PID/status field in KiB. */
async function procKiB(pid: number, field: string): Promise<number> {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

/** The daemon's open descriptors, by what they are (file paths, "socket", "pipe", ...). */
async function descriptors(pid: number): Promise<string[]> {
  const dir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of await readdir(dir)) {
    const target = await readlink(join(dir, fd)).catch(() => 'gone');
    out.push(target.replace(/:\[\d+\]$/, ''));
  }
  return out;
}

const summary = (list: string[]) => {
  const c: Record<string, number> = {};
  for (const d of list) c[d] = (c[d] ?? 0) + 1;
  return JSON.stringify(c);
};

/** Every file under a directory, recursively (the staging area). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

async function keysUnder(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

/** Whether `buf` is one whole file as the workers make them (header: length and hash of the body). */
function selfValid(buf: Buffer): boolean {
  const nl = buf.indexOf(10);
  const m = nl < 0 ? null : /^S3MT (\d+) ([0-9a-f]{64})$/.exec(buf.subarray(0, nl).toString('latin1'));
  const body = buf.subarray(nl + 1);
  return m !== null && body.length === Number(m[1]) && sha256(body) === m[2];
}

t.test(`load on ${kind}: ${WORKERS} processes on each of two mounts for ${SECONDS} s`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'load');
  const args = [
    '--memory-limit',
    `${MEMORY_LIMIT_MIB}M`,
    ...(process.env.LOAD_EXTRA ? process.env.LOAD_EXTRA.split(' ') : []),
  ];
  const mounts: Mounted[] = [];
  for (let i = 0; i < 2; i++) {
    const m = await mount(server, bucket, args);
    t.teardown(() => m.unmount());
    mounts.push(m);
  }
  await mkdir(join((mounts[0] as Mounted).dir, 'shared'));
  // the connections of the mount's own checks close once idle (POOL_IDLE_MS): then the baseline
  await new Promise((r) => setTimeout(r, POOL_IDLE_MS + 1500));
  const baseline = await Promise.all(mounts.map((m) => descriptors(m.child.pid as number)));

  const results = await Promise.all(
    mounts.flatMap((m, mi) =>
      Array.from({ length: WORKERS }, (_, i) => runWorker(m.dir, `${'ab'[mi]}${i}`, 1000 * mi + i + 1)),
    ),
  );

  // ---- errors
  const ops: Record<string, number> = {};
  const expected: Record<string, number> = {};
  const unexpected: WorkerResult['unexpected'] = [];
  let written = 0;
  let read = 0;
  for (const r of results) {
    if (r.fatal) t.fail(`worker ${r.id} died: ${r.fatal}`);
    for (const [k, n] of Object.entries(r.ops)) ops[k] = (ops[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.expected)) expected[k] = (expected[k] ?? 0) + n;
    unexpected.push(...r.unexpected.map((u) => ({ ...u, path: `${r.id}: ${u.path}` })));
    written += r.bytesWritten;
    read += r.bytesRead;
  }
  const total = Object.values(ops).reduce((x, y) => x + y, 0);
  t.comment(`operations: ${total} (${JSON.stringify(ops)})`);
  t.comment(`expected errors: ${JSON.stringify(expected)}`);
  t.comment(`bytes written ${written}, read ${read} through the mounts`);
  t.ok(total > 0, 'the workers did something');
  for (const u of unexpected.slice(0, 20)) t.comment(`unexpected: ${JSON.stringify(u)}`);
  // Two defects this test found (issue #13), both fixed: a rename over a shared name that
  // said ENOENT (libfuse hid the open target by a rename that failed once the other mount
  // had deleted it), and reads of one version cut at, or padded to, another's size
  // ("WRONG"): a new open waits out a size the kernel may hold (kernelSettled), and an open
  // made while a handle of another version is open, or of a file seen changing, bypasses
  // the page cache (docs/SEMANTICS.md, "A descriptor reads one version").
  // s3rver cannot pass the second: its PutObject rewrites the object's file in place and
  // its metadata (ETag, length) after, so a GET meanwhile answers new bytes under the old
  // ETag and length, which no client can tell from the right answer (DEVELOPERS.md, known
  // gaps). There they are counted, not asserted; RGW replaces objects atomically.
  const mixed = unexpected.filter((u) => u.code === 'WRONG');
  const other = unexpected.filter((u) => u.code !== 'WRONG');
  t.same(other.slice(0, 20), [], `no unexpected error (${other.length} in all)`);
  if (kind === 's3rver') t.comment(`reads of mixed versions on s3rver (not atomic): ${mixed.length}`);
  else {
    // Found by this test and fixed (docs/SEMANTICS.md, "The kernel's page cache cannot
    // mix versions"):
    // - padded with zeros to another version's size: a read that waited for S3 while the
    //   mount learnt of another version (now ESTALE; test/fuse/consistency.ts makes it
    //   happen);
    // - cut at, or padded to, the size of the file a rename on the same mount had just
    //   replaced: an open the kernel began on the old file's inode reached the mount by
    //   name after the rename and was given the new version through the page cache (now
    //   direct_io; test/unit/fs/consistency.ts). CI met it as "fstat 8129, read@0 8129,
    //   read@8129 0, fstat 14466" (a 14,466-byte version cut), a local run under four
    //   test files at once as "fstat 2095, read@0 2095 (699 zeros), fstat 1396".
    const padded = mixed.filter((u) => /, [1-9]\d* zero bytes at the end/.test(u.message));
    const cut = mixed.filter((u) => !padded.includes(u));
    t.same(padded.slice(0, 5), [], `no read padded to another version's size (${padded.length} were)`);
    t.same(cut.slice(0, 5), [], `no read cut at another version's size (${cut.length} were)`);
  }

  // ---- memory: the high-water mark of each daemon's resident set
  for (const [i, m] of mounts.entries()) {
    const hwmMiB = (await procKiB(m.child.pid as number, 'VmHWM')) / 1024;
    t.comment(
      `mount ${'ab'[i]}: peak RSS ${hwmMiB.toFixed(1)} MiB (limit ${MEMORY_LIMIT_MIB} MiB + ${RSS_ALLOWANCE_MIB})`,
    );
    t.ok(
      hwmMiB <= MEMORY_LIMIT_MIB + RSS_ALLOWANCE_MIB,
      `mount ${'ab'[i]}: peak RSS ${hwmMiB.toFixed(1)} MiB within --memory-limit + ${RSS_ALLOWANCE_MIB} MiB`,
    );
  }

  // ---- content: every worker's own files exactly, every shared file one whole version
  let verified = 0;
  let objects = 0;
  for (const r of results) {
    const prefix = `w-${r.id}/`;
    const keys = (await keysUnder(s3, bucket, prefix)).filter((k) => !k.endsWith('/'));
    t.same(keys.sort(), Object.keys(r.files).sort(), `${r.id}: S3 has exactly its files`);
    for (const [key, want] of Object.entries(r.files)) {
      const body = await getObject(s3, bucket, key);
      if (sha256(body) !== want) t.fail(`${key}: S3 has other bytes than the worker wrote last`);
      verified += body.length;
      objects++;
    }
  }
  let shared = 0;
  for (const key of await keysUnder(s3, bucket, 'shared/')) {
    if (key.endsWith('/')) continue;
    t.notMatch(key, /\.tmp-/, `no temporary file left in S3 (${key})`);
    const body = await getObject(s3, bucket, key);
    if (!selfValid(body)) t.fail(`${key}: not one whole version in S3`);
    verified += body.length;
    objects++;
    shared++;
  }
  t.comment(`verified against S3: ${objects} objects (${shared} shared), ${verified} bytes`);

  // ---- leaks: descriptors back to the baseline (idle connections close after 10 s), no staged files
  for (const [i, m] of mounts.entries()) {
    const pid = m.child.pid as number;
    let now: string[] = [];
    const back = await eventually(
      async () => (now = await descriptors(pid)).length <= (baseline[i] as string[]).length,
      45_000,
      1000,
    );
    t.comment(
      `mount ${'ab'[i]}: ${now.length} descriptors (${(baseline[i] as string[]).length} before the load)`,
    );
    t.ok(
      back,
      `mount ${'ab'[i]}: descriptors back to the baseline: ${summary(now)} vs ${summary(baseline[i] as string[])}`,
    );
    let staged: string[] = [];
    t.ok(
      await eventually(async () => (staged = await filesUnder(m.stagingDir)).length === 0, 30_000, 500),
      `mount ${'ab'[i]}: nothing left in the staging directory ${JSON.stringify(staged.slice(0, 5))}`,
    );
  }
  for (const [i, m] of mounts.entries()) {
    const lines = m.output().split('\n');
    const warn = lines.filter((l) => l.includes(`"level":"warn"`)).length;
    const errors = lines.filter((l) => l.includes(`"level":"error"`));
    t.comment(`mount ${'ab'[i]}: ${warn} warnings and ${errors.length} errors logged`);
    for (const l of errors.slice(0, 5)) t.comment(`  ${l.slice(0, 400)}`);
  }
  // ---- the block cache's bookkeeping: every block unmapped before its file id was
  // closed (an id reused with a block still mapped would serve another object's bytes)
  for (const [i, m] of mounts.entries()) {
    await m.unmount(); // the daemon logs its counters as it stops
    const stopped = m
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"stopped"'));
    const left = stopped === undefined ? undefined : /"leftMapped":(\d+)/.exec(stopped)?.[1];
    t.equal(left, '0', `mount ${'ab'[i]}: no block still mapped when its file id was closed`);
  }
});
