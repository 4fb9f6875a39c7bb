// The control channel on real mounts: `s3mount status --json` against the requests the
// test made (counted by a proxy), `sync` as a flush barrier and with an upload that cannot
// succeed, `run` (the command's status, everything uploaded before it returns, 75 and the
// list when not), unmount progress on a pseudo-terminal, `unmount --force`, dead mounts.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { MountStatus } from '../../src/control/protocol.js';
import { processAlive } from '../../src/util/process.js';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { eventually, getObjectOrUndefined, sha256, stagedData } from '../fixtures/helpers.js';
import { mount, runAsync, runS3mountAsync, S3MOUNT_BIN, serverEnv } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const ACCESS_DENIED = { kind: 'status', status: 403, code: 'AccessDenied' } as const;
const SLOW_DOWN = { kind: 'status', status: 503, code: 'SlowDown' } as const;
/** "always" for a fault rule */
const ALWAYS = 1_000_000;

async function isMounted(dir: string): Promise<boolean> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === dir);
}

const has = async (dir: string, data: Buffer) =>
  (await stagedData(dir)).some((b) => sha256(b) === sha256(data));

t.test(`control channel on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'ctl');
  const work = await mkdtemp(join(tmpdir(), 's3mount-ctl-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const stateEnv = { XDG_STATE_HOME: join(work, 'state') };
  const env = serverEnv(server, stateEnv);
  const cli = (args: string[]) => runS3mountAsync(args, env);
  const proxy = await startFaultProxy(server.endpoint);
  t.teardown(() => proxy.close());
  let n = 0;
  const newStaging = () => mkdtemp(join(work, `staging-${n++}-`));

  t.test('status --json reports what the test did', async (t) => {
    const fromS3 = randomBytes(150_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'st/remote.bin', Body: fromS3 }));
    proxy.clear();
    const seen0 = { ...proxy.seen };
    const m = await mount(server, bucket, [], stateEnv, { endpoint: proxy.endpoint });
    t.teardown(() => m.unmount());
    const written = randomBytes(100_000);
    await writeFile(join(m.dir, 'st', 'written.bin'), written);
    t.equal(
      sha256(await readFile(join(m.dir, 'st', 'remote.bin'))),
      sha256(fromS3),
      'read through the mount',
    );
    await t.rejects(stat(join(m.dir, 'st', 'missing.bin')), { code: 'ENOENT' });

    const r = await cli(['status', m.dir, '--json']);
    t.equal(r.status, 0, `status exits 0 ${r.stderr}`);
    const all = JSON.parse(r.stdout) as MountStatus[];
    t.equal(all.length, 1, 'one mount');
    const st = all[0] as MountStatus;
    const seen = (k: string) => (proxy.seen[k] ?? 0) - (seen0[k] ?? 0);
    t.equal(st.mountpoint, m.dir);
    t.equal(st.bucket, bucket);
    t.equal(st.endpoint, proxy.endpoint);
    t.equal(st.pid, m.child.pid, 'the daemon answered');
    t.ok(st.uptimeMs > 0, 'uptime');
    t.equal(st.s3.requests.PutObject ?? 0, seen('PUT'), 'PutObject count = PUTs the server got');
    t.equal(st.s3.requests.GetObject ?? 0, seen('GET'), 'GetObject count = GETs the server got');
    t.equal(st.s3.requests.HeadObject ?? 0, seen('HEAD'), 'HeadObject count = HEADs the server got');
    t.equal(st.s3.requests.ListObjectsV2 ?? 0, seen('LIST'), 'ListObjectsV2 count = LISTs the server got');
    t.equal(st.s3.requests.HeadBucket ?? 0, seen('HeadBucket'), 'HeadBucket count');
    t.ok((st.s3.requests.PutObject ?? 0) >= 1, 'the written file was PUT');
    t.ok((st.s3.errors.HeadObject?.NotFound ?? 0) >= 1, 'the missing file counts as a HeadObject NotFound');
    t.equal(st.bytes.written, written.length, 'bytes written through the mount');
    t.equal(st.bytes.read, fromS3.length, 'bytes read through the mount');
    t.ok(st.s3.downloadedBytes >= fromS3.length, 'downloaded at least the file read');
    t.ok(st.s3.uploadedBytes >= written.length, 'uploaded at least the file written');
    t.ok(st.cache.misses >= 1 && st.cache.usedBytes > 0, 'the block cache was used');
    t.ok(
      st.cache.sizeBytes > 0 && st.cache.hitRatio >= 0 && st.cache.hitRatio <= 1,
      'cache size and hit ratio',
    );
    t.equal(st.uploads.pendingFiles, 0, 'nothing pending');

    // only this mount: other mounts on the machine may have their sockets elsewhere
    const text = await cli(['status', m.dir]);
    t.equal(text.status, 0, 'status without --json exits 0');
    t.match(text.stdout, m.dir, 'lists the mount');
    t.match(text.stdout, new RegExp(`bucket +${bucket}`), 'with its bucket');
    t.match(text.stdout, /uploads +0 files pending/, 'and its uploads');
  });

  t.test('sync: a barrier; an upload that cannot succeed is listed, non-zero', async (t) => {
    proxy.clear();
    const m = await mount(server, bucket, ['--write-back'], stateEnv, {
      endpoint: proxy.endpoint,
      stagingDir: await newStaging(),
    });
    t.teardown(() => m.unmount());
    const good = randomBytes(120_000);
    await writeFile(join(m.dir, 'good.bin'), good);
    const r0 = await cli(['sync', m.dir]);
    t.equal(r0.status, 0, `sync exits 0 ${r0.stderr}`);
    t.equal(
      sha256((await getObjectOrUndefined(s3, bucket, 'good.bin')) ?? Buffer.alloc(0)),
      sha256(good),
      'in S3',
    );

    proxy.inject({ kinds: ['PUT'], fault: ACCESS_DENIED, times: ALWAYS });
    const bad = randomBytes(90_000);
    await writeFile(join(m.dir, 'denied.bin'), bad);
    const r1 = await cli(['sync', join(m.dir, 'denied.bin')]);
    t.equal(r1.status, 1, 'sync exits 1');
    t.match(r1.stderr, `${m.dir}/denied.bin`, 'and names the file');
    t.match(r1.stderr, /could not be uploaded/);
    t.ok(await has(m.stagingDir, bad), 'the data stays staged');
    t.equal(await getObjectOrUndefined(s3, bucket, 'denied.bin'), undefined, 'not in S3');

    const st = JSON.parse((await cli(['status', m.dir, '--json'])).stdout) as MountStatus[];
    const u = (st[0] as MountStatus).uploads;
    t.equal(u.pendingFiles, 1, 'status: one file pending');
    t.equal(u.pendingBytes, bad.length, 'with its bytes');
    t.equal(u.files[0]?.path, '/denied.bin');
    t.equal(u.files[0]?.parked, true, 'failed for good');
    t.match(u.lastError?.reason ?? '', /denied/i, 'last error says why');
    t.ok((u.oldestSinceMs ?? 0) > 0, 'oldest pending');

    proxy.clear();
    const r2 = await cli(['sync', m.dir]);
    t.equal(r2.status, 0, `once the server accepts it, sync exits 0 ${r2.stderr}`);
    t.equal(sha256((await getObjectOrUndefined(s3, bucket, 'denied.bin')) ?? Buffer.alloc(0)), sha256(bad));
  });

  t.test('run: the command status, everything uploaded before it returns', async (t) => {
    const dir = join(work, 'run-mnt');
    await mkdir(dir);
    t.teardown(() => {
      if (spawnSync('mountpoint', ['-q', dir]).status === 0) spawnSync('fusermount', ['-uz', dir]);
    });
    const copy = join(work, 'run.copy');
    const r = await cli([
      'run',
      '--endpoint',
      server.endpoint,
      '--staging-dir',
      await newStaging(),
      '--write-back',
      bucket,
      dir,
      '--',
      'sh',
      '-c',
      `mkdir ${dir}/out && head -c 400000 /dev/urandom > ${dir}/out/run.bin && cp ${dir}/out/run.bin ${copy}; exit 3`,
    ]);
    const inS3 = await getObjectOrUndefined(s3, bucket, 'out/run.bin');
    t.equal(r.status, 3, `run exits with the command's status ${r.stderr}`);
    const data = await readFile(copy);
    t.equal(data.length, 400_000);
    t.equal(sha256(inS3 ?? Buffer.alloc(0)), sha256(data), 'the file was in S3 when run returned');
    t.notOk(await isMounted(dir), 'and unmounted');
  });

  t.test('run with an upload that cannot succeed: 75 and the list', async (t) => {
    const dir = join(work, 'run-fail-mnt');
    await mkdir(dir);
    t.teardown(() => {
      if (spawnSync('mountpoint', ['-q', dir]).status === 0) spawnSync('fusermount', ['-uz', dir]);
    });
    const staging = await newStaging();
    proxy.clear();
    proxy.inject({ kinds: ['PUT'], fault: ACCESS_DENIED, times: ALWAYS });
    t.teardown(() => proxy.clear());
    const r = await cli([
      'run',
      '--endpoint',
      proxy.endpoint,
      '--staging-dir',
      staging,
      '--write-back',
      bucket,
      dir,
      '--',
      'sh',
      '-c',
      `echo lost > ${dir}/lost.txt`,
    ]);
    t.equal(r.status, 75, `run exits 75 ${r.stderr}`);
    t.match(r.stderr, `${dir}/lost.txt`, 'names the file');
    t.ok(await has(staging, Buffer.from('lost\n')), 'which stays staged');
    t.notOk(await isMounted(dir), 'unmounted');
  });

  t.test('unmount waits for uploads, with progress on a terminal', async (t) => {
    proxy.clear();
    const m = await mount(server, bucket, ['--write-back'], stateEnv, {
      endpoint: proxy.endpoint,
      stagingDir: await newStaging(),
    });
    t.teardown(() => m.unmount());
    // every upload attempt is answered 503 until the command is seen waiting (it unmounts
    // first, then asks the daemon) and has had time for a few progress lines: then the
    // server lets the upload through, however slow the machine is
    proxy.inject({ kinds: ['PUT'], fault: SLOW_DOWN, times: ALWAYS });
    const data = randomBytes(200_000);
    await writeFile(join(m.dir, 'slow.bin'), data);
    const unmounting = runAsync(
      'script',
      ['-qec', `${process.execPath} ${S3MOUNT_BIN} unmount ${m.dir}`, '/dev/null'],
      env,
    );
    t.ok(await eventually(async () => !(await isMounted(m.dir)), 60_000), 'the command unmounted first');
    await sleep(2000); // progress lines come every 500 ms
    proxy.clear();
    const r = await unmounting;
    t.equal(r.status, 0, `unmount exits 0 ${r.stdout}`);
    t.match(
      r.stdout,
      /uploading before unmount of .*: 1 file, 195\.3 KiB left of 195\.3 KiB, /,
      'progress shown',
    );
    t.equal(
      sha256((await getObjectOrUndefined(s3, bucket, 'slow.bin')) ?? Buffer.alloc(0)),
      sha256(data),
      'uploaded',
    );
    t.notOk(await isMounted(m.dir), 'unmounted');

    // without a terminal: no progress lines
    const m2 = await mount(server, bucket, ['--write-back'], stateEnv, { endpoint: proxy.endpoint });
    t.teardown(() => m2.unmount());
    await writeFile(join(m2.dir, 'quiet.bin'), data);
    const r2 = await cli(['unmount', m2.dir]);
    t.equal(r2.status, 0);
    t.equal(r2.stderr, '', 'nothing printed');
  });

  t.test('unmount --force leaves staged files; the next mount uploads them', async (t) => {
    proxy.clear();
    const staging = await newStaging();
    const m = await mount(server, bucket, ['--write-back'], stateEnv, {
      endpoint: proxy.endpoint,
      stagingDir: staging,
    });
    t.teardown(() => m.unmount());
    proxy.inject({ kinds: ['PUT'], fault: SLOW_DOWN, times: ALWAYS });
    t.teardown(() => proxy.clear());
    const data = randomBytes(110_000);
    await writeFile(join(m.dir, 'forced.bin'), data);
    const r = await cli(['unmount', '--force', m.dir]);
    t.equal(r.status, 0, `unmount --force exits 0 ${r.stderr}`);
    t.match(r.stderr, /1 file not uploaded \(--force\); they stay staged in /);
    t.match(r.stderr, '/forced.bin');
    t.notOk(await isMounted(m.dir), 'unmounted');
    t.ok(await has(staging, data), 'staged');
    t.equal(await getObjectOrUndefined(s3, bucket, 'forced.bin'), undefined, 'not in S3');
    proxy.clear();

    // the same endpoint, bucket and prefix: the same staging subdirectory
    const m2 = await mount(server, bucket, [], stateEnv, { endpoint: proxy.endpoint, stagingDir: staging });
    t.teardown(() => m2.unmount());
    t.ok(
      await eventually(
        async () =>
          sha256((await getObjectOrUndefined(s3, bucket, 'forced.bin')) ?? Buffer.alloc(0)) === sha256(data),
        30_000,
      ),
      'the next mount uploads it',
    );
  });

  t.test("a killed daemon's dead mount: mounting again recovers, unmount clears", async (t) => {
    const dir = join(work, 'dead-mnt');
    await mkdir(dir);
    const pids: number[] = [];
    t.teardown(() => {
      for (const p of pids) if (processAlive(p)) process.kill(p, 'SIGKILL');
      if (spawnSync('mountpoint', ['-q', dir]).status === 0) spawnSync('fusermount', ['-uz', dir]);
    });
    const pidOf = async () =>
      Number(
        await readFile(
          join(work, 'state', 's3mount', `${dir.slice(1).replace(/[^A-Za-z0-9._-]+/g, '_')}.pid`),
          'utf8',
        ),
      );
    const staging = await newStaging();
    proxy.clear();
    proxy.inject({ kinds: ['PUT'], fault: SLOW_DOWN, times: ALWAYS });
    t.teardown(() => proxy.clear());
    const r1 = await cli([
      bucket,
      dir,
      '--endpoint',
      proxy.endpoint,
      '--staging-dir',
      staging,
      '--write-back',
    ]);
    t.equal(r1.status, 0, `mounted ${r1.stderr}`);
    pids.push(await pidOf());
    const data = randomBytes(80_000);
    await writeFile(join(dir, 'orphan.bin'), data);
    process.kill(pids[0] as number, 'SIGKILL');
    t.ok(await eventually(() => !processAlive(pids[0] as number), 5000), 'daemon killed');
    await t.rejects(stat(dir), { code: 'ENOTCONN' }, 'a dead mount');
    proxy.clear();

    const r2 = await cli([bucket, dir, '--endpoint', proxy.endpoint, '--staging-dir', staging]);
    t.equal(r2.status, 0, `mounting again there succeeds ${r2.stderr}`);
    pids.push(await pidOf());
    t.ok(
      await eventually(
        async () =>
          sha256((await getObjectOrUndefined(s3, bucket, 'orphan.bin')) ?? Buffer.alloc(0)) === sha256(data),
        30_000,
      ),
      'and uploads what the killed daemon had staged',
    );

    process.kill(pids[1] as number, 'SIGKILL');
    t.ok(await eventually(() => !processAlive(pids[1] as number), 5000), 'daemon killed again');
    const st = await cli(['status', dir]);
    t.equal(st.status, 1, 'status exits 1 for a dead mount');
    t.match(st.stdout, /does not answer/);
    const r3 = await cli(['unmount', dir]);
    t.equal(r3.status, 0, `unmount clears the dead mount ${r3.stderr}`);
    t.match(r3.stderr, /cleared the dead mount/);
    t.notOk(await isMounted(dir), 'not mounted');
    t.ok((await stat(dir)).isDirectory(), 'the directory is usable again');
  });
});
