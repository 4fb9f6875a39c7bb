// TLS: certificates are verified by default; an https endpoint whose CA the system does
// not trust fails the mount with one line naming --ca-bundle, and works once the site's
// CA is given with --ca-bundle or AWS_CA_BUNDLE (writes, and reads through the block cache).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getObjectOrUndefined, sha256 } from '../fixtures/helpers.js';
import { mount, runS3mountAsync, serverEnv, type Mounted } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { makeTestCa, opensslAvailable, startTlsProxy } from '../fixtures/tls-proxy.js';

const kind = serverKindFromEnv();

async function mounted(dir: string): Promise<boolean> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === dir);
}

t.test(`TLS on ${kind}`, async (t) => {
  if (!(await opensslAvailable())) {
    t.fail('openssl is not installed (Debian package openssl; scripts/setup installs it)');
    return;
  }
  const { server, s3, bucket } = await serverWithBucket(t, 'tls');
  const work = await mkdtemp(join(tmpdir(), 's3mount-tls-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const ca = await makeTestCa(work);
  const proxy = await startTlsProxy(server.endpoint, ca);
  t.teardown(() => proxy.close());
  const empty = join(work, 'empty');
  await mkdir(empty);
  // no NODE_EXTRA_CA_CERTS or AWS_CA_BUNDLE from the caller's environment
  const env = serverEnv(server, {
    XDG_STATE_HOME: join(work, 'state'),
    NODE_EXTRA_CA_CERTS: '',
    AWS_CA_BUNDLE: '',
  });
  // 3 MiB: read back through ranged GETs over https (block fills), not only small requests
  const big = randomBytes(3 * 1024 * 1024);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big.bin', Body: big }));

  /** A mount through the proxy that must fail: one line, exit != 0, nothing mounted. */
  const fails = async (t: Test, args: string[], want: RegExp, e: NodeJS.ProcessEnv = env) => {
    const t0 = Date.now();
    const r = await runS3mountAsync([bucket, empty, '--endpoint', proxy.endpoint, ...args], e, 60_000);
    t.not(r.status, 0, 'non-zero exit');
    t.not(r.status, null, 'exited (not killed)');
    t.comment(`failed after ${Date.now() - t0} ms`); // reported, not asserted (shared machine)
    t.match(r.stderr, want, 'says why');
    t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`);
    const m = await mounted(empty);
    t.notOk(m, 'nothing mounted');
    if (m) spawnSync('fusermount', ['-u', empty]);
  };

  t.test('a CA the system does not trust: one line naming the cause and --ca-bundle', (t) =>
    fails(
      t,
      [],
      /^s3mount: the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not signed by a CA this system trusts \([A-Z_]+\); .*--ca-bundle FILE or AWS_CA_BUNDLE=FILE/,
    ),
  );
  t.test('foreground: the same line', (t) => fails(t, ['-f'], /not signed by a CA this system trusts/));
  t.test('--ca-bundle of a missing file', (t) =>
    fails(t, ['--ca-bundle', join(work, 'nope.pem')], /--ca-bundle .*nope\.pem: cannot read it \(ENOENT\)/),
  );
  t.test('--ca-bundle of a file that holds no certificate', async (t) => {
    await writeFile(join(work, 'junk.pem'), 'not a certificate\n');
    await fails(t, ['--ca-bundle', join(work, 'junk.pem')], /junk\.pem: no certificate in it/);
  });
  t.test('a CA bundle with another CA still refuses this server', async (t) => {
    const other = join(work, 'other');
    await mkdir(other);
    const otherCa = await makeTestCa(other);
    await fails(t, ['--ca-bundle', otherCa.caFile], /not signed by a CA this system trusts/);
  });

  /** Mounts through the proxy, writes, reads back (small and big), checks with the SDK. */
  const works = async (t: Test, args: string[], extraEnv: NodeJS.ProcessEnv, name: string) => {
    let m: Mounted | undefined;
    t.teardown(() => m?.unmount());
    m = await mount(
      server,
      bucket,
      args,
      { ...extraEnv, NODE_EXTRA_CA_CERTS: '' },
      { endpoint: proxy.endpoint },
    );
    const body = `over TLS with ${name}\n`;
    await writeFile(join(m.dir, `${name}.txt`), body);
    t.equal((await getObjectOrUndefined(s3, bucket, `${name}.txt`))?.toString(), body, 'written: S3 has it');
    t.equal(await readFile(join(m.dir, `${name}.txt`), 'utf8'), body, 'reads back');
    t.equal(sha256(await readFile(join(m.dir, 'big.bin'))), sha256(big), 'a 3 MiB object reads intact');
    await m.unmount();
    t.notOk(await mounted(m.dir), 'unmounted');
  };

  t.test('--ca-bundle FILE: read and write', (t) =>
    works(t, ['--ca-bundle', ca.caFile], { AWS_CA_BUNDLE: '' }, 'option'),
  );
  t.test('AWS_CA_BUNDLE=FILE: read and write', (t) => works(t, [], { AWS_CA_BUNDLE: ca.caFile }, 'env'));
  t.test('-o ca_bundle=FILE (fstab form)', async (t) => {
    const mp = join(work, 'mnt-o');
    await mkdir(mp);
    t.teardown(() => {
      if (spawnSync('mountpoint', ['-q', mp]).status === 0) spawnSync('fusermount', ['-u', mp]);
    });
    const r = await runS3mountAsync(
      [bucket, mp, '-o', `url=${proxy.endpoint},ca_bundle=${ca.caFile}`, '--staging-dir', join(work, 'st-o')],
      env,
    );
    t.equal(r.status, 0, `mounted ${r.stderr}`);
    t.equal(sha256(await readFile(join(mp, 'big.bin'))), sha256(big), 'reads intact');
    t.equal((await runS3mountAsync(['unmount', mp], env)).status, 0, 'unmounted');
  });
});
