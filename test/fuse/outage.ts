// Outage: the server cannot be reached while close() uploads, refusing connections (the
// proxy is down) or answering nothing at all (every request held). close() fails within
// the deadline (EIO; ETIMEDOUT when nothing answers), the data stays staged, and once the
// server is back it is uploaded without anyone doing anything (hash checked in S3).
// `unmount` with uploads pending (waits, or with --force says what stays staged) is
// tested in test/fuse/control.ts.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_KINDS, ALWAYS, startFaultProxy } from '../fixtures/fault-proxy.js';
import { eventually, getObjectOrUndefined, sha256, stagedData } from '../fixtures/helpers.js';
import { mount } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const REQUEST_TIMEOUT_S = 6;
/** scheduling slack on a loaded 2-core machine: the bound checked is the deadline plus this */
const SLACK_MS = 5000;

t.test(`an outage during close() on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'outage');
  const proxy = await startFaultProxy(server.endpoint);
  t.teardown(() => proxy.close());
  const deadlineMs = REQUEST_TIMEOUT_S * 1000;

  for (const how of ['refused', 'silent'] as const) {
    t.test(`connections ${how}: close fails within the deadline, the data arrives later`, async (t) => {
      const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
      t.teardown(() => rm(staging, { recursive: true, force: true }));
      const m = await mount(
        server,
        bucket,
        ['--request-timeout', String(REQUEST_TIMEOUT_S), '--idle-timeout', '2', '--connect-timeout', '2'],
        {},
        { endpoint: proxy.endpoint, stagingDir: staging },
      );
      t.teardown(() => m.unmount());
      // whatever happened, the proxy answers again for the next test (down() then up(): up twice would fail)
      t.teardown(async () => {
        proxy.clear();
        await proxy.down();
        await proxy.up();
      });
      const name = `outage-${how}.bin`;
      const data = randomBytes(300_000);
      const fh = await open(join(m.dir, name), 'w');
      await fh.write(data);
      if (how === 'refused') await proxy.down();
      else proxy.inject({ kinds: ALL_KINDS, fault: { kind: 'stall' }, times: ALWAYS });
      const t0 = Date.now();
      const code = await fh.close().then(
        () => 'closed',
        (err: NodeJS.ErrnoException) => err.code ?? 'failed',
      );
      const ms = Date.now() - t0;
      t.comment(`close() with the server ${how}: ${code} after ${ms} ms (deadline ${deadlineMs} ms)`);
      if (how === 'refused') t.equal(code, 'EIO', 'close fails with EIO');
      else t.ok(code === 'ETIMEDOUT' || code === 'EIO', `close fails with ETIMEDOUT or EIO (${code})`);
      t.ok(ms <= deadlineMs + SLACK_MS, `within the deadline (${ms} ms)`);
      t.ok(
        (await stagedData(staging)).some((b) => sha256(b) === sha256(data)),
        'the data stays staged',
      );
      t.equal(await getObjectOrUndefined(s3, bucket, name), undefined, 'not in S3');

      // the server comes back; nobody touches the file
      const back = Date.now();
      if (how === 'refused') await proxy.up();
      else proxy.clear();
      t.ok(
        await eventually(
          async () =>
            sha256((await getObjectOrUndefined(s3, bucket, name)) ?? Buffer.alloc(0)) === sha256(data),
          90_000,
          250,
        ),
        'uploaded without user action once the server is back',
      );
      t.comment(`uploaded ${Date.now() - back} ms after the server came back (the queue's backoff)`);
      t.ok(await eventually(async () => (await stagedData(staging)).length === 0, 10_000), 'then unstaged');
    });
  }
});
