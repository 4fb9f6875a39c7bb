// An ordinary user: preflight names the real cause of a refusal (--allow-other without
// user_allow_other; the others are unit-tested); then, with /dev/fuse at its usual 0666, the
// user mounts in a directory of their own, writes, reads, loses the daemon to kill -9,
// clears the dead mount with `s3mount unmount`, remounts and gets the staged file
// uploaded, and unmounts (fusermount3 underneath). Staging and state live in their home.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, getObjectOrUndefined, stagedData, stagedRecordOf } from '../fixtures/helpers.js';
import { S3MOUNT_BIN } from '../fixtures/mount.js';
import { machineLock } from '../fixtures/machine-lock.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { isMounted, run } from '../fixtures/install.js';
import { pidFile } from '../../src/cli/state-files.js';
import { processAlive } from '../../src/util/process.js';

const kind = serverKindFromEnv();
const USER = 's3mount-test';
const DEV_FUSE = '/dev/fuse';

async function userIds(): Promise<{ uid: number; gid: number; home: string } | undefined> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${USER}:`));
  if (line === undefined) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
}

t.test(`an ordinary user's mount, on ${kind}`, async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'creating a test user and changing /dev/fuse need root'); // skipped
    return;
  }
  await machineLock(); // changes machine-wide state: see test/fixtures/machine-lock.ts
  if ((await userIds()) === undefined) {
    const r = await run('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
    t.equal(r.code, 0, `useradd ${USER} ${r.stderr} (scripts/setup --test installs passwd)`);
  }
  const ids = await userIds();
  if (ids === undefined) throw new Error(`no user ${USER}`);
  const { uid, gid, home } = ids;
  await run('install', ['-d', '-o', String(uid), '-g', String(gid), '-m', '0755', home]);

  const devMode = (await stat(DEV_FUSE)).mode & 0o777;
  t.teardown(() => chmod(DEV_FUSE, devMode));

  const { server, s3, bucket } = await serverWithBucket(t, 'user');
  const tag = randomBytes(4).toString('hex');
  const mp = join(home, `tier2-${tag}`);
  // a login's environment, not this runner's (tap's NODE_OPTIONS would write into the checkout)
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    USER,
    LOGNAME: USER,
    PATH: '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  };
  const staging = join(home, '.cache', 's3mount', 'staging');
  const state = join(home, '.local', 'state', 's3mount');
  const started: ChildProcess[] = [];
  t.teardown(async () => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    if (await isMounted(mp)) await run('fusermount3', ['-uz', mp]);
    await rmdir(mp).catch(() => undefined); // never rm -r a mount point
    await rm(join(home, '.cache', 's3mount'), { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  });

  /** Runs a command as the test user, with its own groups and the environment above. */
  // tap's process tracking puts NODE_OPTIONS into every child (its hook would write into
  // this checkout as the user): env -u takes it out again
  const userCmd = (args: string[]) => [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--init-groups',
    '--',
    'env',
    '-u',
    'NODE_OPTIONS',
    ...args,
  ];
  const asUser = (args: string[], timeoutMs = 60_000) => run('setpriv', userCmd(args), { env, timeoutMs });
  const s3mount = (args: string[]) => asUser([process.execPath, S3MOUNT_BIN, ...args]);
  const mountArgs = [bucket, mp, '--endpoint', server.endpoint];

  t.equal((await asUser(['mkdir', mp])).code, 0, 'the user makes a mount point in their home');

  await chmod(DEV_FUSE, 0o666); // its usual mode on Debian

  t.test('preflight: --allow-other without user_allow_other', async (t) => {
    const conf = await readFile('/etc/fuse.conf', 'utf8').catch(() => '');
    if (conf.split('\n').some((l) => l.trim() === 'user_allow_other')) {
      t.plan(0, 'this machine allows it in /etc/fuse.conf'); // skipped
      return;
    }
    const r = await s3mount([...mountArgs, '--allow-other']);
    t.equal(r.code, 1, 'fails');
    t.match(r.stderr, /--allow-other needs the line user_allow_other in \/etc\/fuse.conf/);
    t.notOk(await isMounted(mp), 'nothing mounted');
  });

  t.test('mount, write, read, crash, recover, unmount', async (t) => {
    const up = await s3mount(mountArgs);
    t.equal(up.code, 0, `mounted by the user ${up.stderr}`);
    t.ok(await isMounted(mp), 'mounted');
    const pidOf = async () =>
      Number((await readFile(pidFile(mp, { XDG_STATE_HOME: join(home, '.local', 'state') }), 'utf8')).trim());
    const pid = await pidOf();
    t.match(
      await readFile(`/proc/${pid}/status`, 'utf8'),
      new RegExp(`\\nUid:\\t${uid}\\t`),
      'the daemon runs as the user',
    );
    for (const d of [staging, state]) {
      const st = await stat(d);
      t.equal(st.uid, uid, `${d} is the user's`);
      t.equal(st.mode & 0o777, 0o700, `${d} is 0700`);
    }

    const w = await asUser(['sh', '-c', 'printf %s "$1" > "$2"', '_', 'from the user\n', join(mp, 'a.txt')]);
    t.equal(w.code, 0, `the user writes ${w.stderr}`);
    t.equal((await getObjectOrUndefined(s3, bucket, 'a.txt'))?.toString(), 'from the user\n', 'in S3');
    const r = await asUser(['cat', join(mp, 'a.txt')]);
    t.equal(r.stdout, 'from the user\n', 'the user reads it back');

    // a file still open for writing when the daemon dies: staged, not uploaded
    const body = `staged before the crash ${tag}\n`;
    const writer = spawn(
      'setpriv',
      userCmd([
        // one open file descriptor, never closed: no flush, so nothing is uploaded
        process.execPath,
        '-e',
        "const fs = require('fs'); fs.writeSync(fs.openSync(process.argv[1], 'w'), process.argv[2]); setTimeout(() => {}, 120000)",
        join(mp, 'crash.txt'),
        body,
      ]),
      { env, stdio: 'ignore' },
    );
    started.push(writer);
    t.ok(
      await eventually(async () => (await stagedData(staging)).some((b) => b.toString() === body), 20_000),
      'the write is staged',
    );
    t.ok(await eventually(() => stagedRecordOf(staging, 'crash.txt'), 10_000), 'and its record written');
    t.equal(await getObjectOrUndefined(s3, bucket, 'crash.txt'), undefined, 'and not uploaded yet');
    process.kill(pid, 'SIGKILL');
    writer.kill('SIGKILL');
    t.ok(await eventually(() => !processAlive(pid), 10_000), 'the daemon is dead');

    const clear = await s3mount(['unmount', mp]);
    t.equal(clear.code, 0, `s3mount unmount clears the dead mount ${clear.stderr}`);
    t.notOk(await isMounted(mp), 'no dead mount left');

    const again = await s3mount(mountArgs);
    t.equal(again.code, 0, `mounted again ${again.stderr}`);
    const pid2 = await pidOf();
    t.ok(
      await eventually(
        async () => (await getObjectOrUndefined(s3, bucket, 'crash.txt'))?.toString() === body,
        30_000,
      ),
      'the staged file is uploaded by the new mount',
    );
    t.equal((await asUser(['cat', join(mp, 'crash.txt')])).stdout, body, 'and reads back');

    const down = await s3mount(['unmount', mp]);
    t.equal(down.code, 0, `the user unmounts ${down.stderr}`);
    t.notOk(await isMounted(mp), 'unmounted');
    t.notOk(processAlive(pid2), 'the daemon is gone');
  });
});
