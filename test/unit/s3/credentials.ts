// Where keys come from: the keys command's line, s3fs passwd files (permissions, BUCKET:
// lines), the order of precedence, and asking the source again when keys are rejected.
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RefreshingCredentials, isRejectedKeys } from '../../../src/s3/credential-refresh.js';
import {
  CredentialsError,
  parseKeysLine,
  readPasswdFile,
  resolveCredentialSource,
  runKeysCommand,
  type Credentials,
} from '../../../src/s3/credentials.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

t.test('parseKeysLine', async (t) => {
  t.same(parseKeysLine(`AKID ${SECRET}\n`), { accessKeyId: 'AKID', secretAccessKey: SECRET });
  t.same(parseKeysLine(`AKID\t${SECRET} TOKEN123`), {
    accessKeyId: 'AKID',
    secretAccessKey: SECRET,
    sessionToken: 'TOKEN123',
  });
  t.equal(parseKeysLine('AKID'), undefined, 'one field');
  t.equal(parseKeysLine(`AKID ${SECRET}\nmore\n`), undefined, 'two lines');
  t.equal(parseKeysLine('a b c d'), undefined, 'four fields');
  t.equal(parseKeysLine(''), undefined, 'nothing');
  t.equal(parseKeysLine('<html>error page</html> x y z'), undefined, 'garbage');
});

t.test('runKeysCommand', async (t) => {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  t.same(await runKeysCommand(`echo AKID ${SECRET}`, 5000, env), {
    accessKeyId: 'AKID',
    secretAccessKey: SECRET,
  });
  const failing = runKeysCommand('exit 3', 5000, env);
  await t.rejects(failing, { name: 'CredentialsError', message: /failed \(exit code 3\)/ });
  const garbage = runKeysCommand(`echo "Error: ${SECRET} is not"; echo more`, 5000, env);
  await t.rejects(garbage, { message: /did not print ACCESS_KEY SECRET_KEY/ });
  await garbage.catch((e: Error) => t.notMatch(e.message, SECRET, 'the output is not echoed'));
  const t0 = Date.now();
  await t.rejects(runKeysCommand('sleep 30', 300, env), { message: /did not finish within/ });
  t.ok(Date.now() - t0 < 20_000, 'the hung command was given up on');
});

t.test('passwd files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-creds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'passwd');
  await writeFile(
    file,
    `# keys\nbucket-a:AKIDA:${SECRET}A\nAKIDDEF:${SECRET}D\nbucket-b:AKIDB:${SECRET}B\n`,
    {
      mode: 0o600,
    },
  );
  t.same(await readPasswdFile(file, 'bucket-b', false), {
    accessKeyId: 'AKIDB',
    secretAccessKey: `${SECRET}B`,
  });
  t.same(await readPasswdFile(file, 'bucket-a', false), {
    accessKeyId: 'AKIDA',
    secretAccessKey: `${SECRET}A`,
  });
  t.same(await readPasswdFile(file, 'other', false), {
    accessKeyId: 'AKIDDEF',
    secretAccessKey: `${SECRET}D`,
  });
  t.same(await readPasswdFile(file, undefined, false), {
    accessKeyId: 'AKIDDEF',
    secretAccessKey: `${SECRET}D`,
  });

  await chmod(file, 0o644);
  await t.rejects(readPasswdFile(file, 'bucket-a', false), { message: /accessible by group.*chmod 600/ });
  await chmod(file, 0o604);
  await t.rejects(readPasswdFile(file, 'bucket-a', true), { message: /accessible by others/ });
  await chmod(file, 0o640);
  t.ok(await readPasswdFile(file, 'bucket-a', true), '/etc/passwd-s3fs may be group-readable');

  const bad = join(dir, 'bad');
  await writeFile(bad, `AKID ${SECRET}\n`, { mode: 0o600 });
  const e = await readPasswdFile(bad, 'x', false).catch((err: unknown) => err);
  t.type(e, CredentialsError);
  t.match((e as Error).message, /line 1 is not ACCESS_KEY:SECRET_KEY/);
  t.notMatch((e as Error).message, SECRET, 'the line is not echoed');
  const onlyOther = join(dir, 'only-other');
  await writeFile(onlyOther, `bucket-z:AKID:${SECRET}\n`, { mode: 0o600 });
  await t.rejects(readPasswdFile(onlyOther, 'x', false), { message: /no ACCESS_KEY:SECRET_KEY line/ });
  await t.rejects(readPasswdFile(join(dir, 'missing'), 'x', false), { message: /cannot read.*ENOENT/ });
});

t.test('precedence', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 's3mount-home-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_CONFIG_FILE: join(home, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
  };
  const passwd = join(home, 'explicit');
  await writeFile(passwd, `PASSWDKEY:${SECRET}\n`, { mode: 0o600 });
  await writeFile(join(home, '.passwd-s3fs'), `HOMEKEY:${SECRET}\n`, { mode: 0o600 });
  const o = { keysCommandTimeoutMs: 5000, bucket: 'b' };
  const key = async (opts: object, e: NodeJS.ProcessEnv) =>
    (await (await resolveCredentialSource({ ...o, ...opts }, e, home)).load()).accessKeyId;

  t.equal(await key({ keysCommand: `echo CMDKEY ${SECRET}`, passwdFile: passwd }, env), 'CMDKEY');
  t.equal(
    await key({ passwdFile: passwd }, { ...env, AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: SECRET }),
    'PASSWDKEY',
  );
  t.equal(await key({}, { ...env, AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: SECRET }), 'ENVKEY');
  t.equal(await key({}, env), 'HOMEKEY', '~/.passwd-s3fs when nothing else is given');

  // a profile: its keys (credential_process too) and its endpoint_url
  const config = join(home, 'aws-config');
  await writeFile(
    config,
    `[profile tier2]\nendpoint_url = https://s3.example.edu:8443\ncredential_process = echo '{"Version": 1, "AccessKeyId": "PROCKEY", "SecretAccessKey": "${SECRET}"}'\n`,
  );
  const profileEnv = { ...env, AWS_CONFIG_FILE: config };
  const prev = { ...process.env };
  // the SDK's chain reads the files named in process.env
  process.env.AWS_CONFIG_FILE = config;
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(home, 'none');
  t.teardown(() => {
    process.env.AWS_CONFIG_FILE = prev.AWS_CONFIG_FILE;
    process.env.AWS_SHARED_CREDENTIALS_FILE = prev.AWS_SHARED_CREDENTIALS_FILE;
    if (prev.AWS_CONFIG_FILE === undefined) delete process.env.AWS_CONFIG_FILE;
    if (prev.AWS_SHARED_CREDENTIALS_FILE === undefined) delete process.env.AWS_SHARED_CREDENTIALS_FILE;
  });
  const src = await resolveCredentialSource({ ...o, profile: 'tier2' }, profileEnv, home);
  t.equal(src.endpoint, 'https://s3.example.edu:8443', "the profile's endpoint_url");
  t.equal((await src.load()).accessKeyId, 'PROCKEY', 'credential_process');
  t.equal(
    await key(
      { profile: 'tier2' },
      { ...profileEnv, AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: SECRET },
    ),
    'PROCKEY',
    'a profile wins over env keys',
  );
});

t.test('RefreshingCredentials asks the source again once keys are rejected', async (t) => {
  let n = 0;
  let now = 0;
  const loaded: string[] = [];
  const keys = (): Credentials => ({ accessKeyId: `K${n}`, secretAccessKey: `${SECRET}${n}` });
  const slept: number[] = [];
  const creds = new RefreshingCredentials(
    { describe: 'test', load: async () => keys() },
    (c) => loaded.push(c.secretAccessKey),
    () => now,
    async (ms) => {
      slept.push(ms);
      now += ms;
    },
  );
  const first = await creds.get();
  t.equal(first.accessKeyId, 'K0');
  t.equal(await creds.get(), first, 'cached');
  now += 5000;
  t.notOk(await creds.rejected(first), 'the source gives the same keys: nothing else to try');
  t.same(slept, [], 'the last load was over a second ago: asked at once');
  n = 1;
  now += 200; // keys rotated right after that load
  const [a, b] = await Promise.all([creds.rejected(first), creds.rejected(first)]);
  t.ok(a && b, 'rotated keys: retry');
  t.ok(slept.length > 0 && slept[0] === 800, 'within a second of the last load: waited for the rest of it');
  t.equal((await creds.get()).accessKeyId, 'K1');
  t.same(
    loaded,
    [`${SECRET}0`, `${SECRET}0`, `${SECRET}1`],
    'every load told (for redaction), concurrent ones once',
  );
  t.ok(isRejectedKeys({ name: 'InvalidAccessKeyId' }));
  t.ok(isRejectedKeys({ Code: 'SignatureDoesNotMatch' }));
  t.ok(isRejectedKeys({ name: 'ExpiredToken' }));
  t.notOk(isRejectedKeys({ name: 'AccessDenied' }));
});
