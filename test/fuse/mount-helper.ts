// mount(8) and fstab: `mount -t fuse.s3mount BUCKET[:PREFIX] DIR -o ...` through the
// installed mount.fuse.s3mount, a line of a test-owned fstab (`mount -T`) with _netdev,
// noauto and user, fuse3's mount.fuse3 running `s3mount ... -o`, then umount(8).
import t from 'tap';
import { existsSync, lstatSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { eventually, getObjectOrUndefined } from '../fixtures/helpers.js';
import { serverEnv } from '../fixtures/mount.js';
import { machineLock } from '../fixtures/machine-lock.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { installToTempPrefix, isMounted, run, UNINSTALL } from '../fixtures/install.js';

const kind = serverKindFromEnv();
/** where mount(8) looks for helpers (/sbin is a link to it on Debian 12) */
const SBIN_HELPER = '/usr/sbin/mount.fuse.s3mount';

/** Command lines of the processes that mention `marker` (a unique temp path). */
async function cmdlinesWith(marker: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const cmd = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    if (cmd.includes(marker)) out.push(cmd);
  }
  return out;
}

t.test(`mount -t fuse.s3mount and fstab, on ${kind}`, async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'mount -t and mount -T need root'); // skipped
    return;
  }
  await machineLock(); // changes machine-wide state: see test/fixtures/machine-lock.ts
  const helperTaken = existsSync(SBIN_HELPER) || isLink(SBIN_HELPER);
  const { server, s3, bucket } = await serverWithBucket(t, 'fstab');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'pre/seen.txt', Body: 'seen\n' }));
  const { prefix, result } = await installToTempPrefix(t, helperTaken ? [] : ['--mount-helper-link']);
  t.equal(result.code, 0, `installed ${result.stderr}`);
  const work = await mkdtemp(join(tmpdir(), 's3mount-fstab-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const env = serverEnv(server, {
    XDG_STATE_HOME: join(work, 'state'),
    XDG_CACHE_HOME: join(work, 'cache'),
  });
  const newMountpoint = async (name: string) => {
    const mp = join(work, name);
    await mkdir(mp);
    t.teardown(async () => {
      if (await isMounted(mp)) await run('umount', ['-l', mp]);
    });
    return mp;
  };
  /** umount(8), then the daemon finishes its uploads and exits by itself */
  const umount = async (mp: string) => {
    const r = await run('umount', [mp]);
    t.equal(r.code, 0, `umount ${mp} ${r.stderr}`);
    t.ok(await eventually(async () => (await cmdlinesWith(mp)).length === 0, 30_000), 'the daemon exits');
  };

  t.test('mount -t fuse.s3mount BUCKET:PREFIX DIR -o ...', async (t) => {
    if (helperTaken) {
      t.plan(0, `${SBIN_HELPER} belongs to another install; not replaced by a test`);
      return;
    }
    t.equal(lstatSync(SBIN_HELPER).isSymbolicLink(), true, 'install linked the helper where mount(8) looks');
    const mp = await newMountpoint('mnt-t');
    const r = await run(
      'mount',
      ['-t', 'fuse.s3mount', `${bucket}:pre`, mp, '-o', `endpoint=${server.endpoint},uid=1234,umask=027`],
      { env },
    );
    t.equal(r.code, 0, `mounted ${r.stderr}`);
    t.equal(await readFile(join(mp, 'seen.txt'), 'utf8'), 'seen\n', 'reads the prefix');
    const st = await stat(join(mp, 'seen.txt'));
    t.equal(st.uid, 1234, 'uid=');
    t.equal(st.mode & 0o777, 0o640, 'umask=027');
    const daemons = await cmdlinesWith(mp);
    t.equal(daemons.length, 1, 'one daemon');
    t.notOk(
      daemons.some((c) => c.includes(server.secretAccessKey)),
      'no secret on its command line',
    );
    await writeFile(join(mp, 'new.txt'), 'new\n');
    await umount(mp);
    t.equal((await getObjectOrUndefined(s3, bucket, 'pre/new.txt'))?.toString(), 'new\n', 'uploaded');
  });

  t.test('an fstab line with _netdev,noauto,user (mount -T FILE DIR, then umount DIR)', async (t) => {
    if (helperTaken) {
      t.plan(0, `${SBIN_HELPER} belongs to another install`);
      return;
    }
    const mp = await newMountpoint('mnt-fstab');
    const fstab = join(work, 'fstab');
    // an s3fs line with the type changed
    await writeFile(
      fstab,
      `${bucket}:pre ${mp} fuse.s3mount _netdev,noauto,user,url=${server.endpoint},use_path_request_style,ro 0 0\n`,
    );
    const r = await run('mount', ['-T', fstab, mp], { env });
    t.equal(r.code, 0, `mount -T fstab DIR ${r.stderr}`);
    t.ok(await isMounted(mp), 'mounted');
    t.equal(await readFile(join(mp, 'seen.txt'), 'utf8'), 'seen\n', 'reads');
    await t.rejects(writeFile(join(mp, 'x.txt'), 'x'), { code: 'EROFS' }, 'ro');
    await umount(mp);
    t.notOk(await isMounted(mp), 'unmounted');
  });

  t.test("fuse3's mount.fuse3 runs `s3mount SOURCE DIR -o OPTS`", async (t) => {
    const mp = await newMountpoint('mnt-fuse3');
    const r = await run(
      '/sbin/mount.fuse3',
      [bucket, mp, '-t', 'fuse.s3mount', '-o', `url=${server.endpoint},_netdev`],
      { env: { ...env, PATH: `${join(prefix, 'bin')}:/usr/bin:/bin` } },
    );
    t.equal(r.code, 0, `mounted ${r.stderr}`);
    t.equal(await readFile(join(mp, 'pre', 'seen.txt'), 'utf8'), 'seen\n', 'reads');
    await umount(mp);
  });

  t.test('an unknown -o option: one line, non-zero, nothing mounted', async (t) => {
    const mp = await newMountpoint('mnt-bad');
    const r = await run(join(prefix, 'sbin/mount.fuse.s3mount'), [
      bucket,
      mp,
      '-o',
      `url=${server.endpoint},use_cache=/tmp`,
    ]);
    t.equal(r.code, 2, 'usage error');
    t.match(r.stderr, /-o use_cache: unknown mount option/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.notOk(await isMounted(mp), 'nothing mounted');
  });

  t.test('scripts/uninstall removes the helper link it made', async (t) => {
    const r = await run(UNINSTALL, ['--prefix', prefix]);
    t.equal(r.code, 0, `uninstalled ${r.stderr}`);
    if (!helperTaken) t.notOk(isLink(SBIN_HELPER), `${SBIN_HELPER} is gone`);
    else t.ok(isLink(SBIN_HELPER) || existsSync(SBIN_HELPER), 'what was there before is left alone');
  });
});

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
