// Keys the way sites hand them out, through real mounts: a fake `s3info --keys` on PATH
// via --keys-command, s3fs passwd files (0600 yes, 0644 no, BUCKET: lines), keys commands
// that fail, hang or print garbage; and no secret in any log line, error or `ps` output.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getObjectOrUndefined } from '../fixtures/helpers.js';
import { mount, runS3mount, serverEnv, type Mounted } from '../fixtures/mount.js';
import { serverWithBucket } from '../fixtures/servers.js';

t.test('credentials', async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'creds');
  const work = await mkdtemp(join(tmpdir(), 's3mount-creds-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const bin = join(work, 'bin');
  await mkdir(bin);
  const home = join(work, 'home');
  await mkdir(home);
  const empty = join(work, 'empty');
  await mkdir(empty);
  const secret = server.secretAccessKey;

  /** the environment of a user whose only keys are what the test gives: none in env, no ~/.aws */
  const env = serverEnv(server, {
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    XDG_STATE_HOME: join(work, 'state'),
  });
  /** the site's command: prints whatever `keys` holds now */
  const keys = join(work, 'keys');
  await writeFile(join(bin, 's3info'), `#!/bin/sh\n[ "$1" = --keys ] || exit 2\ncat ${keys}\n`, {
    mode: 0o755,
  });

  const noSecretIn = (t: Test, what: string, text: string) => {
    t.notOk(text.includes(secret), `no secret in ${what}`);
  };
  const psArgs = () => spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;

  /** Mount, write and read a file, check the bytes with the SDK, and look for the secret everywhere. */
  const roundTrip = async (t: Test, args: string[], name: string) => {
    let m: Mounted | undefined;
    t.teardown(() => m?.unmount());
    m = await mount(server, bucket, args, env);
    const body = `written with ${name}\n`;
    await writeFile(join(m.dir, `${name}.txt`), body);
    t.equal(await readFile(join(m.dir, `${name}.txt`), 'utf8'), body, 'reads back through the mount');
    const got = await getObjectOrUndefined(s3, bucket, `${name}.txt`);
    t.equal(got?.toString(), body, 'the SDK sees the bytes');
    noSecretIn(t, 'ps -eo args', psArgs());
    await m.unmount();
    noSecretIn(t, 'the log', m.output());
    t.match(m.output(), /mounted/, 'the log is there to look at');
  };

  t.test('--keys-command with a site s3info on PATH', async (t) => {
    await writeFile(keys, `${server.accessKeyId} ${secret}\n`);
    await roundTrip(t, ['--keys-command', 's3info --keys'], 'keys-command');
  });

  t.test('--passwd-file at 0600, with a BUCKET: line among others', async (t) => {
    const file = join(work, 'passwd');
    await writeFile(
      file,
      `other-bucket:WRONGKEY1:wrongsecret111\nWRONGKEY2:wrongsecret222\n${bucket}:${server.accessKeyId}:${secret}\n`,
      { mode: 0o600 },
    );
    await roundTrip(t, ['--passwd-file', file], 'passwd-file');
  });

  t.test('~/.passwd-s3fs when nothing else is given', async (t) => {
    const file = join(home, '.passwd-s3fs');
    await writeFile(file, `${server.accessKeyId}:${secret}\n`, { mode: 0o600 });
    t.teardown(() => rm(file, { force: true }));
    await roundTrip(t, [], 'home-passwd');
  });

  /** A mount that must fail: one line, exit 1, nothing mounted, nothing printed by the command echoed. */
  const fails = (t: Test, args: string[], want: RegExp, notEchoed?: string) => {
    const r = runS3mount([bucket, empty, '--endpoint', server.endpoint, ...args], env, 90_000);
    t.equal(r.status, 1, 'exit 1');
    t.match(r.stderr, want, 'says why');
    t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`);
    noSecretIn(t, 'the error', r.stderr);
    if (notEchoed !== undefined)
      t.notOk(r.stderr.includes(notEchoed), 'what the command printed is not echoed');
    const mounted = spawnSync('mountpoint', ['-q', empty]).status === 0;
    t.notOk(mounted, 'nothing mounted');
    if (mounted) spawnSync('fusermount', ['-u', empty]);
  };

  t.test('--passwd-file at 0644 is refused', async (t) => {
    const file = join(work, 'passwd-open');
    await writeFile(file, `${server.accessKeyId}:${secret}\n`);
    await chmod(file, 0o644);
    fails(t, ['--passwd-file', file], /passwd file .* is accessible by group .*chmod 600/);
  });

  t.test('a keys command that fails', async (t) => {
    fails(t, ['--keys-command', 's3info --wrong-flag'], /--keys-command failed \(exit code 2\)/);
  });

  t.test('a keys command that hangs (--keys-command-timeout 1)', async (t) => {
    fails(
      t,
      ['--keys-command', 'sleep 60', '--keys-command-timeout', '1'],
      /--keys-command did not finish within 1 s/,
    );
  });

  t.test('a keys command that prints garbage', async (t) => {
    await writeFile(keys, `Your keys are:\n${server.accessKeyId} ${secret}\nHAVE FUN\n`);
    fails(t, ['--keys-command', 's3info --keys'], /did not print ACCESS_KEY SECRET_KEY/, 'Your keys');
  });

  t.test('keys the server rejects: one line', async (t) => {
    await writeFile(keys, `NOSUCHKEY123 not-the-secret-${secret.slice(0, 3)}xyz\n`);
    fails(
      t,
      ['--keys-command', 's3info --keys'],
      /rejected the credentials \((InvalidAccessKeyId|SignatureDoesNotMatch)\)/,
    );
  });
});
