// Deadlines and pacing through the fault proxy: a read whose GETs stall fails within
// --request-timeout (ETIMEDOUT or EIO) instead of hanging; a lookup whose HEAD and LIST
// stall does too; a GET whose body stops half-way is abandoned after --idle-timeout and
// the read still gets its bytes; and a server that throttles (503 SlowDown above a rate)
// makes the whole mount slow down (the limiter's counts in `s3mount status`) while all its
// work still completes, every byte checked in S3.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { MountStatus } from '../../src/control/protocol.js';
import { ALL_KINDS, ALWAYS, startFaultProxy } from '../fixtures/fault-proxy.js';
import { getObjectOrUndefined, sha256 } from '../fixtures/helpers.js';
import { mount, runAsync, runS3mountAsync, serverEnv } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const REQUEST_TIMEOUT_S = 6;
const IDLE_TIMEOUT_S = 2;
/** scheduling slack on a loaded 2-core machine: the bound checked is the deadline plus this */
const SLACK_MS = 5000;

/** What a child process saw doing `op` ('read' or 'stat') on `path`: the errno or the bytes, and how long. */
async function timedOp(
  op: 'read' | 'stat',
  path: string,
): Promise<{ code?: string; sha?: string; ms: number }> {
  const script = `
    const fs = require('fs'), crypto = require('crypto');
    const t0 = Date.now();
    try {
      const r = process.argv[2] === 'read' ? fs.readFileSync(process.argv[1]) : (fs.statSync(process.argv[1]), Buffer.alloc(0));
      console.log(JSON.stringify({ sha: crypto.createHash('sha256').update(r).digest('hex'), ms: Date.now() - t0 }));
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, ms: Date.now() - t0 }));
    }`;
  const r = await runAsync(process.execPath, ['-e', script, path, op], process.env, 120_000);
  return JSON.parse(r.stdout.trim()) as { code?: string; sha?: string; ms: number };
}

t.test(`deadlines on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'deadl');
  const put = (Key: string, Body: Buffer) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  const proxy = await startFaultProxy(server.endpoint);
  t.teardown(() => proxy.close());
  const m = await mount(
    server,
    bucket,
    ['--request-timeout', String(REQUEST_TIMEOUT_S), '--idle-timeout', String(IDLE_TIMEOUT_S)],
    {},
    { endpoint: proxy.endpoint },
  );
  t.teardown(() => m.unmount());
  const deadlineMs = REQUEST_TIMEOUT_S * 1000;

  t.test('GETs stall: the read fails within --request-timeout', async (t) => {
    await put('stall/a.bin', randomBytes(700_000));
    await readdir(join(m.dir, 'stall')); // the object is known: only GETs are left to fail
    proxy.inject({ kinds: ['GET'], fault: { kind: 'stall' }, times: ALWAYS });
    t.teardown(() => proxy.clear());
    const before = proxy.faulted['GET'] ?? 0;
    const r = await timedOp('read', join(m.dir, 'stall', 'a.bin'));
    t.comment(`read of a stalled object failed with ${r.code} after ${r.ms} ms (deadline ${deadlineMs} ms)`);
    t.ok(r.code === 'ETIMEDOUT' || r.code === 'EIO', `the read fails with ETIMEDOUT or EIO (${r.code})`);
    t.ok(r.ms <= deadlineMs + SLACK_MS, `within the deadline (${r.ms} ms)`);
    t.ok(
      (proxy.faulted['GET'] ?? 0) - before >= 1,
      `GETs were stalled (${(proxy.faulted['GET'] ?? 0) - before})`,
    );
  });

  t.test('HEAD and LIST stall: a lookup fails within --request-timeout', async (t) => {
    proxy.inject({ kinds: ['HEAD', 'LIST'], fault: { kind: 'stall' }, times: ALWAYS });
    t.teardown(() => proxy.clear());
    const r = await timedOp('stat', join(m.dir, 'never-seen', 'x.bin'));
    t.comment(`lookup with stalled HEAD/LIST failed with ${r.code} after ${r.ms} ms`);
    t.ok(r.code === 'ETIMEDOUT' || r.code === 'EIO', `stat fails with ETIMEDOUT or EIO (${r.code})`);
    t.ok(r.ms <= deadlineMs + SLACK_MS, `within the deadline (${r.ms} ms)`);
  });

  t.test('a GET body stops half-way: abandoned after --idle-timeout, the read gets its bytes', async (t) => {
    const body = randomBytes(1_500_000);
    await put('idle/b.bin', body);
    await readdir(join(m.dir, 'idle'));
    // the first GET sends 100 kB and then nothing: only the idle deadline ends it in time
    // (its total deadline would end the read with it)
    proxy.inject({ kinds: ['GET'], fault: { kind: 'stall-mid-body', afterBytes: 100_000 }, times: 1 });
    t.teardown(() => proxy.clear());
    const before = proxy.faulted['GET'] ?? 0;
    const r = await timedOp('read', join(m.dir, 'idle', 'b.bin'));
    t.comment(`read with a body stalled half-way: ${r.code ?? 'ok'} after ${r.ms} ms`);
    t.equal((proxy.faulted['GET'] ?? 0) - before, 1, 'one GET stalled in its body');
    t.equal(r.code, undefined, 'the read succeeds');
    t.equal(r.sha, sha256(body), "with the object's bytes");
  });

  t.test('a SlowDown storm: the mount slows down and still completes its work', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 's3mount-storm-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const stateEnv = { XDG_STATE_HOME: join(work, 'state') };
    const sm = await mount(server, bucket, [], stateEnv, { endpoint: proxy.endpoint });
    t.teardown(() => sm.unmount());
    const seen0 = Object.values(proxy.seen).reduce((x, y) => x + y, 0);
    const faulted0 = Object.values(proxy.faulted).reduce((x, y) => x + y, 0);
    // a server that answers 503 SlowDown to whatever comes beyond 10 requests a second
    proxy.inject({
      kinds: ALL_KINDS,
      fault: { kind: 'status', status: 503, code: 'SlowDown' },
      overPerS: 10,
    });
    t.teardown(() => proxy.clear());
    const files = Array.from({ length: 48 }, (_, i) => ({
      name: `f${i}.bin`,
      data: randomBytes(20_000 + i),
    }));
    const dir = join(sm.dir, 'storm');
    await mkdir(dir);
    const failures: string[] = [];
    const attempt = (what: string, p: Promise<unknown>) =>
      p.catch((e: NodeJS.ErrnoException) => failures.push(`${what}: ${e.code ?? e.message}`));
    // 8 at a time: write, read back, list, rename every fourth, delete every eighth
    for (let i = 0; i < files.length; i += 8) {
      await Promise.all(
        files.slice(i, i + 8).map((f) => attempt(`write ${f.name}`, writeFile(join(dir, f.name), f.data))),
      );
    }
    await Promise.all(
      files.map((f) =>
        attempt(
          `read ${f.name}`,
          readFile(join(dir, f.name)).then((b) => {
            if (sha256(b) !== sha256(f.data)) failures.push(`read ${f.name}: wrong bytes`);
          }),
        ),
      ),
    );
    const listed = await readdir(dir).catch((e: NodeJS.ErrnoException) => [`readdir: ${e.code}`]);
    t.equal(listed.length, files.length, 'the listing shows every file');
    const renamed = files.filter((_, i) => i % 4 === 1);
    const deleted = files.filter((_, i) => i % 8 === 2);
    await Promise.all([
      ...renamed.map((f) => attempt(`rename ${f.name}`, rename(join(dir, f.name), join(dir, `r-${f.name}`)))),
      ...deleted.map((f) => attempt(`unlink ${f.name}`, unlink(join(dir, f.name)))),
    ]);
    t.same(failures, [], 'no operation failed');

    const r = await runS3mountAsync(['status', sm.dir, '--json'], serverEnv(server, stateEnv));
    const status = (JSON.parse(r.stdout) as MountStatus[])[0] as MountStatus;
    const pacing = status.s3.pacing;
    const seen = Object.values(proxy.seen).reduce((x, y) => x + y, 0) - seen0;
    const faulted = Object.values(proxy.faulted).reduce((x, y) => x + y, 0) - faulted0;
    t.comment(`storm: ${seen} requests reached the proxy, ${faulted} answered 503 SlowDown`);
    t.comment(`mount's pacing: ${JSON.stringify(pacing)}`);
    t.ok(faulted > 0, 'the server throttled');
    t.ok(pacing !== undefined, 'status reports the pacing');
    t.ok((pacing?.throttled ?? 0) > 0, 'the mount saw the slow-downs');
    t.ok((pacing?.rateDecreases ?? 0) >= 1, 'and lowered its request rate');
    t.ok((pacing?.delayedRequests ?? 0) > 0, 'requests of the whole mount were held back to the lower rate');

    proxy.clear();
    for (const [i, f] of files.entries()) {
      const key = `storm/${renamed.includes(f) ? 'r-' : ''}${f.name}`;
      const got = await getObjectOrUndefined(s3, bucket, key);
      if (deleted.includes(f)) t.equal(got, undefined, `${key} deleted`);
      else if (got === undefined || sha256(got) !== sha256(f.data)) t.fail(`${key} (${i}): not in S3 intact`);
    }
  });
});
