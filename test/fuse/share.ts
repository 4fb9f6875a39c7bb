// `s3mount share` on real mounts: presigned URLs fetched with curl give the exact bytes
// (a file written through the mount, one put by the SDK, a BUCKET:PREFIX mount), expire
// (s3rver 3.7.1 and RGW both refuse an expired URL), and every refusal is one line with
// the other paths still answered: a directory, a file still staged, a path outside any
// mount, a missing file, a bad --expires. The command runs without endpoint or keys, and
// no secret appears in its output or the daemon's log. On RGW with radosgw-admin: after a
// key rotation the link is signed with the new keys.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { sha256 } from '../fixtures/helpers.js';
import { mount, runAsync, runS3mountAsync } from '../fixtures/mount.js';
import { rgwAdminAvailable, rgwKeyPair, serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const ACCESS_DENIED = { kind: 'status', status: 403, code: 'AccessDenied' } as const;
/** "always" for a fault rule */
const ALWAYS = 1_000_000;

/** The environment of the share command: no endpoint, no keys, only where the sockets are. */
function commandEnv(stateHome: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|S3_TEST_|S3MOUNT_)/.test(k)) env[k] = v;
  env.XDG_STATE_HOME = stateHome;
  return env;
}

t.test(`share links on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'share');
  const work = await mkdtemp(join(tmpdir(), 's3mount-share-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const stateHome = join(work, 'state');
  // s3rver never checks V4 signatures: a secret of our own makes "no secret in the
  // output" a real check there too (its access key and secret are both "S3RVER")
  const secret =
    kind === 's3rver' ? `share-secret-${randomBytes(8).toString('hex')}` : server.secretAccessKey;
  const mountEnv = { XDG_STATE_HOME: stateHome, AWS_SECRET_ACCESS_KEY: secret };
  const env = commandEnv(stateHome);
  t.notOk(Object.values(env).includes(secret), 'the command gets no keys');

  let fetched = 0;
  /** GET with curl: the HTTP status and, for a 2xx, the body */
  const fetch = async (url: string): Promise<{ code: number; body?: Buffer }> => {
    const out = join(work, `fetched-${fetched++}`);
    const r = await runAsync(
      'curl',
      ['-sS', '--noproxy', '*', '-o', out, '-w', '%{http_code}', url],
      process.env,
      60_000,
    );
    const code = Number(r.stdout.trim());
    return code >= 200 && code < 300 ? { code, body: await readFile(out) } : { code };
  };
  /** runs `s3mount share ARGS`; stdout and stderr never hold the secret */
  const share = async (t: Test, args: string[]) => {
    const r = await runS3mountAsync(['share', ...args], env);
    t.notOk(r.stdout.includes(secret) || r.stderr.includes(secret), 'no secret in the output');
    return {
      ...r,
      urls: r.stdout.split('\n').filter((l) => l !== ''),
      errors: r.stderr.split('\n').filter((l) => l !== ''),
    };
  };
  const expiresOf = (url: string) => new URL(url).searchParams.get('X-Amz-Expires');

  t.test('written through the mount and put by the SDK: the exact bytes', async (t) => {
    const fromSdk = randomBytes(70_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'sdk/remote.bin', Body: fromSdk }));
    const m = await mount(server, bucket, [], mountEnv);
    t.teardown(() => m.unmount());
    const written = randomBytes(200_000);
    await mkdir(join(m.dir, 'w'));
    await writeFile(join(m.dir, 'w', 'written.bin'), written);

    const r = await share(t, [join(m.dir, 'w', 'written.bin'), join(m.dir, 'sdk', 'remote.bin')]);
    t.equal(r.status, 0, `exit 0 ${r.stderr}`);
    t.equal(r.stderr, '', 'nothing on stderr');
    t.equal(r.urls.length, 2, 'one URL per file');
    const [first, second] = r.urls as [string, string];
    t.ok(
      first.startsWith(`${server.endpoint}/${bucket}/w/written.bin?`),
      `the mount's endpoint, path-style: ${first}`,
    );
    t.ok(second.startsWith(`${server.endpoint}/${bucket}/sdk/remote.bin?`), 'in the order asked');
    t.equal(expiresOf(first), '3600', 'an hour by default');
    t.match(first, /X-Amz-Signature=[0-9a-f]{64}/, 'signed (SigV4 query authentication)');
    const a = await fetch(first);
    t.equal(a.code, 200, 'curl gets the file written through the mount');
    t.equal(sha256(a.body ?? Buffer.alloc(0)), sha256(written), 'the exact bytes');
    const b = await fetch(second);
    t.equal(b.code, 200, 'and the one the SDK put');
    t.equal(sha256(b.body ?? Buffer.alloc(0)), sha256(fromSdk), 'the exact bytes');

    // through a symbolic link to the mount (a home directory often is one)
    await symlink(m.dir, join(work, 'link'));
    t.teardown(() => rm(join(work, 'link'), { force: true }));
    const linked = await share(t, [join(work, 'link', 'w', 'written.bin')]);
    t.equal(linked.status, 0, `a path through a symbolic link ${linked.stderr}`);
    t.ok(linked.urls[0]?.startsWith(`${server.endpoint}/${bucket}/w/written.bin?`), 'names the same object');

    const week = await share(t, ['--expires', '7d', join(m.dir, 'w', 'written.bin')]);
    t.equal(week.status, 0, `--expires 7d is allowed ${week.stderr}`);
    t.equal(expiresOf(week.urls[0] ?? ''), '604800', 'exactly 7 days');
    t.equal((await fetch(week.urls[0] ?? '')).code, 200, 'and works');

    const short = await share(t, ['--expires', '2s', join(m.dir, 'sdk', 'remote.bin')]);
    t.equal(short.status, 0, `--expires 2s ${short.stderr}`);
    t.equal(expiresOf(short.urls[0] ?? ''), '2');
    // signed before the command returned: 3 s later it has expired
    await new Promise((r) => setTimeout(r, 3000));
    const late = await fetch(short.urls[0] ?? '');
    t.ok(late.code >= 400, `refused by the server once expired (HTTP ${late.code})`);
    t.equal((await fetch(second)).code, 200, 'while a link that has not expired still works');

    t.notOk(m.output().includes(secret), "no secret in the daemon's log");
    t.notOk(m.output().includes('X-Amz-Signature'), "no URL in the daemon's log");
  });

  t.test('refusals: one line each, the other paths still answered', async (t) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ok/good.txt', Body: 'good\n' }));
    const m = await mount(server, bucket, [], mountEnv);
    t.teardown(() => m.unmount());
    const outside = join(work, 'outside.txt');
    await writeFile(outside, 'not in a mount\n');
    const asked = [
      join(m.dir, 'ok'), // a directory
      join(m.dir, 'ok', 'good.txt'),
      join(m.dir, 'ok', 'missing.txt'),
      outside,
      m.dir, // the mount's root
      join(work, 'nowhere', 'at-all.txt'),
    ];
    const r = await share(t, asked);
    t.equal(r.status, 1, 'exit 1');
    t.equal(r.urls.length, 1, 'the good file still gets its URL');
    t.ok(r.urls[0]?.startsWith(`${server.endpoint}/${bucket}/ok/good.txt?`), 'the good one');
    t.equal((await fetch(r.urls[0] ?? '')).body?.toString(), 'good\n', 'which works');
    t.equal(r.errors.length, 5, `one line per refused path:\n${r.stderr}`);
    t.match(r.errors[0], `s3mount: cannot share ${join(m.dir, 'ok')}: is a directory`);
    t.match(r.errors[1], `s3mount: cannot share ${join(m.dir, 'ok', 'missing.txt')}: no such file`);
    t.match(r.errors[2], `s3mount: cannot share ${outside}: is not in an s3mount mount of yours`);
    t.match(r.errors[3], `s3mount: cannot share ${m.dir}: is a directory`);
    t.match(r.errors[4], `cannot share ${join(work, 'nowhere', 'at-all.txt')}: is not in an s3mount mount`);

    for (const bad of ['8d', '604801', '0', 'abc', '1.5h']) {
      const e = await share(t, ['--expires', bad, join(m.dir, 'ok', 'good.txt')]);
      t.equal(e.status, 2, `--expires ${bad}: exit 2`);
      t.equal(e.stdout, '', 'no URL');
      t.equal(e.errors.length, 1, `one line: ${e.stderr}`);
    }
    const over = await share(t, ['--expires', '8d', join(m.dir, 'ok', 'good.txt')]);
    t.match(over.stderr, /longer than 7 days/, 'over 7 days: says the limit');
  });

  t.test('a file still staged is refused until it is in S3', async (t) => {
    const proxy = await startFaultProxy(server.endpoint);
    t.teardown(() => proxy.close());
    const m = await mount(server, bucket, ['--write-back'], mountEnv, { endpoint: proxy.endpoint });
    t.teardown(() => m.unmount());
    proxy.inject({ kinds: ['PUT', 'CreateMultipart'], fault: ACCESS_DENIED, times: ALWAYS });
    const data = randomBytes(50_000);
    await writeFile(join(m.dir, 'staged.bin'), data); // --write-back: close returns, the upload is denied
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'other.txt', Body: 'other\n' }));
    const r = await share(t, [join(m.dir, 'staged.bin'), join(m.dir, 'other.txt')]);
    t.equal(r.status, 1, 'exit 1');
    t.equal(r.errors.length, 1, 'one line');
    t.match(r.errors[0], `s3mount: cannot share ${join(m.dir, 'staged.bin')}: is not in S3 yet`);
    t.equal(r.urls.length, 1, 'the other file still gets its URL');
    t.ok(r.urls[0]?.startsWith(`${proxy.endpoint}/${bucket}/other.txt?`), "the mount's endpoint");

    proxy.clear();
    const synced = await runS3mountAsync(['sync', m.dir], env);
    t.equal(synced.status, 0, `sync uploads it ${synced.stderr}`);
    const again = await share(t, [join(m.dir, 'staged.bin')]);
    t.equal(again.status, 0, `once in S3 it is shared ${again.stderr}`);
    const got = await fetch(again.urls[0] ?? '');
    t.equal(sha256(got.body ?? Buffer.alloc(0)), sha256(data), 'the exact bytes');
  });

  t.test(
    'after a key rotation the link is signed with the new keys',
    { skip: rgwAdminAvailable() ? false : 'needs radosgw-admin on an RGW (S3_TEST_CEPH_CONF)' },
    async (t) => {
      const { k1, k2, addKey, removeKey } = rgwKeyPair(t, server, 'sharek');
      addKey(k1);
      const keys = join(work, 'rotation-keys');
      await writeFile(keys, `${k1.id} ${k1.secret}\n`);
      const m = await mount(server, bucket, ['--keys-command', `cat ${keys}`], {
        XDG_STATE_HOME: stateHome,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
      });
      t.teardown(() => m.unmount());
      const data = randomBytes(20_000);
      await writeFile(join(m.dir, 'rotated.bin'), data);

      // the site rotates: K2 added, K1 removed, the command prints K2; the daemon still holds K1
      addKey(k2);
      removeKey(k1);
      await writeFile(keys, `${k2.id} ${k2.secret}\n`);
      const r = await share(t, [join(m.dir, 'rotated.bin')]);
      t.equal(r.status, 0, `exit 0 ${r.stderr}`);
      const credential = new URL(r.urls[0] ?? 'http://x/').searchParams.get('X-Amz-Credential') ?? '';
      t.ok(credential.startsWith(`${k2.id}/`), `signed with the new key (${credential.split('/')[0] ?? ''})`);
      const got = await fetch(r.urls[0] ?? '');
      t.equal(got.code, 200, 'and the server accepts it');
      t.equal(sha256(got.body ?? Buffer.alloc(0)), sha256(data), 'the exact bytes');
      for (const secretKey of [k1.secret, k2.secret]) {
        t.notOk(r.stdout.includes(secretKey) || r.stderr.includes(secretKey), 'no secret in the output');
        t.notOk(m.output().includes(secretKey), "no secret in the daemon's log");
      }
    },
  );

  t.test('a BUCKET:PREFIX mount gives the key under the prefix; two mounts in one command', async (t) => {
    const data = randomBytes(30_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'pfx/sub/p.bin', Body: data }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'sub/p.bin', Body: 'not this one\n' }));
    const whole = await mount(server, bucket, [], mountEnv);
    t.teardown(() => whole.unmount());
    const m = await mount(server, `${bucket}:pfx`, [], mountEnv);
    t.teardown(() => m.unmount());
    const r = await share(t, [join(m.dir, 'sub', 'p.bin'), join(whole.dir, 'sub', 'p.bin')]);
    t.equal(r.status, 0, `exit 0 ${r.stderr}`);
    t.equal(r.urls.length, 2);
    t.equal(new URL(r.urls[0] ?? '').pathname, `/${bucket}/pfx/sub/p.bin`, 'the key under the prefix');
    t.equal(sha256((await fetch(r.urls[0] ?? '')).body ?? Buffer.alloc(0)), sha256(data), 'its bytes');
    t.equal(new URL(r.urls[1] ?? '').pathname, `/${bucket}/sub/p.bin`, 'the other mount: its own key');
    t.equal((await fetch(r.urls[1] ?? '')).body?.toString(), 'not this one\n');
  });
});
