// Mount lifecycle: detach once ready, clean unmount by `s3mount unmount`,
// `fusermount -u`, SIGINT and SIGTERM, leaving no daemon and no mount behind.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount, runS3mount, S3MOUNT_BIN, serverEnv, type Mounted } from '../fixtures/mount.js';
import { processAlive } from '../../src/util/process.js';

const kind = serverKindFromEnv();

async function mounted(dir: string): Promise<boolean> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === dir);
}

function exitOf(m: Mounted, timeoutMs = 20_000): Promise<number | null | 'timeout'> {
  if (m.child.exitCode !== null) return Promise.resolve(m.child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    m.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

t.test(`lifecycle on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'life');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'f.txt', Body: 'hi\n' }));
  const work = await mkdtemp(join(tmpdir(), 's3mount-life-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const env = serverEnv(server, { XDG_STATE_HOME: join(work, 'state') });

  for (const how of ['SIGTERM', 'SIGINT', 'fusermount -u', 's3mount unmount'] as const) {
    t.test(`foreground mount stops cleanly on ${how}`, async (t) => {
      const m = await mount(server, bucket);
      t.teardown(() => m.unmount());
      t.equal(await readFile(join(m.dir, 'f.txt'), 'utf8'), 'hi\n', 'mounted and readable');
      if (how === 'SIGTERM' || how === 'SIGINT') m.child.kill(how);
      else if (how === 'fusermount -u')
        t.equal(spawnSync('fusermount', ['-u', m.dir]).status, 0, 'fusermount -u succeeds');
      else t.equal(runS3mount(['unmount', m.dir], env).status, 0, 's3mount unmount exits 0');
      t.equal(await exitOf(m), 0, 'daemon exits with 0');
      t.notOk(await mounted(m.dir), 'mount is gone');
      t.same(await readdir(m.dir), [], 'mount point is an empty directory again');
    });
  }

  t.test('a SIGINT the moment the mount appears still stops it cleanly: no dead mount', async (t) => {
    // the daemon installed its signal handlers only once it served (after the control
    // socket was up): a signal in between killed it and left the mount point "Transport
    // endpoint is not connected". A CI run on the RGW ended that way once (exit by signal
    // after a SIGINT, dead mount); the window is too short to hit here on purpose, so this
    // checks the property, not that exact timing
    const dir = await mkdtemp(join(tmpdir(), 's3mount-mnt-'));
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(async () => {
      if (await mounted(dir)) spawnSync('fusermount', ['-uz', dir]);
      await rm(staging, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    });
    const child = spawn(
      process.execPath,
      [S3MOUNT_BIN, bucket, dir, '--endpoint', server.endpoint, '--staging-dir', staging, '--foreground'],
      { env, stdio: 'ignore' },
    );
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (!(await mounted(dir)) && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 2));
    t.ok(await mounted(dir), 'mounted');
    child.kill('SIGINT');
    t.equal(await exit, 0, 'the daemon exits with 0');
    t.notOk(await mounted(dir), 'mount is gone');
    t.same(await readdir(dir), [], 'mount point is an empty directory again');
  });

  t.test('default mode detaches once ready; unmount waits for the daemon', async (t) => {
    const mp = join(work, 'mnt');
    await mkdir(mp);
    t.teardown(() => {
      if (spawnSync('mountpoint', ['-q', mp]).status === 0) spawnSync('fusermount', ['-u', mp]);
    });
    const r = runS3mount([bucket, mp, '--endpoint', server.endpoint], env);
    t.equal(r.status, 0, `mount command exits 0 ${r.stderr}`);
    t.equal(r.stderr, '', 'and prints nothing');
    t.ok(await mounted(mp), 'mounted when the command returns');
    t.equal(await readFile(join(mp, 'f.txt'), 'utf8'), 'hi\n', 'readable');
    const pid = Number(
      await readFile(
        join(work, 'state', 's3mount', `${mp.slice(1).replace(/[^A-Za-z0-9._-]+/g, '_')}.pid`),
        'utf8',
      ),
    );
    t.ok(pid > 0 && processAlive(pid), 'daemon runs with a pid file');
    const ps = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).stdout;
    t.notMatch(ps, server.secretAccessKey, 'no secret in the process title');
    t.equal(runS3mount(['unmount', mp], env).status, 0, 'unmount exits 0');
    t.notOk(await mounted(mp), 'mount is gone');
    t.notOk(processAlive(pid), 'daemon has exited when unmount returns');
  });

  t.test('--log-file and --log-level: one JSON line per event, no secret', async (t) => {
    const mp = join(work, 'mnt-log');
    await mkdir(mp);
    t.teardown(() => {
      if (spawnSync('mountpoint', ['-q', mp]).status === 0) spawnSync('fusermount', ['-u', mp]);
    });
    const log = join(work, 'chosen.log');
    const r = runS3mount(
      [bucket, mp, '--endpoint', server.endpoint, '--staging-dir', join(work, 'staging-log')].concat([
        '--log-file',
        log,
        '--log-level',
        'debug',
      ]),
      env,
    );
    t.equal(r.status, 0, `mount command exits 0 ${r.stderr}`);
    await writeFile(join(mp, 'logged.txt'), 'x');
    t.equal(runS3mount(['unmount', mp], env).status, 0, 'unmount exits 0');
    const text = await readFile(log, 'utf8');
    const events = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { level?: unknown; msg?: unknown });
    t.ok(events.length > 0, 'the daemon logged to the file given');
    t.ok(
      events.every((e) => typeof e.msg === 'string' && typeof e.level === 'string'),
      'every line is one JSON event with a level and a message',
    );
    t.ok(
      events.some((e) => e.msg === 'mounted'),
      'the mount is logged',
    );
    t.ok(
      events.some((e) => e.level === 'debug'),
      '--log-level debug lets debug events through',
    );
    t.notOk(text.includes(server.secretAccessKey), 'no secret in the log');
  });
});
