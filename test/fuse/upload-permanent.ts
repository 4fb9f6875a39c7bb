// An upload that can never succeed (here: over the bucket's quota, 403 QuotaExceeded) is
// not retried forever: close() fails, the file stays staged and is named in the log, the
// daemon exits at once when asked, and the next mount tries it once more.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, getObjectOrUndefined, sha256, stagedData } from '../fixtures/helpers.js';
import { rgwAdmin, rgwAdminAvailable, serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount, type Mounted } from '../fixtures/mount.js';

const kind = serverKindFromEnv();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** how long a daemon may take to exit on SIGTERM with a file it cannot upload */
const EXIT_WITHIN_MS = 30_000;

/** SIGTERM; resolves with the exit code, or 'timeout' if the daemon is still there after `ms`. */
function stop(m: Mounted, ms: number): Promise<number | null | 'timeout'> {
  if (m.child.exitCode !== null) return Promise.resolve(m.child.exitCode);
  const exited = new Promise<number | null | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    m.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  m.child.kill('SIGTERM');
  return exited;
}

// s3rver 3.7.1 has no quotas and no bucket policies: nothing refuses an upload for good
const skip =
  kind !== 'rgw'
    ? 'needs a server that can refuse uploads (RGW quotas)'
    : !rgwAdminAvailable()
      ? "radosgw-admin needs the cluster's ceph.conf: set S3_TEST_CEPH_CONF with S3_TEST_ENDPOINT"
      : false;

t.test(`an upload that cannot succeed, on ${kind}`, { skip }, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'quota');
  const quota = (...args: string[]) =>
    rgwAdmin(server, ['quota', ...args, '--quota-scope=bucket', `--bucket=${bucket}`]);
  quota('set', '--max-size=1024');
  quota('enable');
  t.teardown(() => quota('disable'));
  const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
  t.teardown(() => rm(staging, { recursive: true, force: true }));
  const data = randomBytes(300_000);
  const name = 'over-quota.bin';

  const m = await mount(server, bucket, [], {}, { stagingDir: staging });
  t.teardown(() => m.unmount());
  const fh = await open(join(m.dir, name), 'w');
  await fh.write(data);
  await t.rejects(fh.close(), { code: 'ENOSPC' }, 'close() reports the quota');
  t.ok(
    (await stagedData(staging)).some((b) => sha256(b) === sha256(data)),
    'the data stays staged',
  );
  t.match(
    m.output(),
    new RegExp(`"level":"error".*"path":"/${name}".*quota.*"msg":"upload cannot succeed`, 'i'),
    'logged at error level with path and reason',
  );
  await sleep(3000); // a retried upload would go again after 1 s and 2 s
  t.notMatch(m.output(), /will retry/, 'not retried');
  const t0 = Date.now();
  const code = await stop(m, EXIT_WITHIN_MS);
  t.not(code, 'timeout', `SIGTERM ends the daemon in ${Date.now() - t0} ms`);
  const exitLog = m.output().slice(m.output().lastIndexOf('stopping'));
  t.match(
    exitLog,
    new RegExp(`"level":"error".*"path":"/${name}".*"msg":"not uploaded: the file stays staged`),
    'the exit log names the file',
  );
  t.ok(
    (await stagedData(staging)).some((b) => sha256(b) === sha256(data)),
    'still staged after the daemon exited',
  );
  await m.unmount();

  const m2 = await mount(server, bucket, [], {}, { stagingDir: staging });
  t.teardown(() => m2.unmount());
  t.ok(
    await eventually(() => /upload cannot succeed/.test(m2.output()), 20_000),
    'the next mount tries it once more',
  );
  await sleep(3000);
  t.equal(m2.output().match(/upload cannot succeed/g)?.length, 1, 'once, not in a loop');
  t.notMatch(m2.output(), /will retry/, 'not retried');
  t.not(await stop(m2, EXIT_WITHIN_MS), 'timeout', 'and SIGTERM ends that daemon too');
  await m2.unmount();
  t.equal(await getObjectOrUndefined(s3, bucket, name), undefined, 'not in S3');

  quota('disable'); // the reason is gone: the next mount uploads it
  const m3 = await mount(server, bucket, [], {}, { stagingDir: staging });
  t.teardown(() => m3.unmount());
  t.ok(
    await eventually(
      async () => sha256((await getObjectOrUndefined(s3, bucket, name)) ?? Buffer.alloc(0)) === sha256(data),
      30_000,
    ),
    'uploaded once the quota is lifted',
  );
  t.ok(
    await eventually(async () => (await stagedData(staging)).length === 0, 10_000),
    'and no longer staged',
  );
  t.equal(await stop(m3, EXIT_WITHIN_MS), 0, 'that daemon exits 0');
});
