// A whole-account mount (`s3mount MOUNTPOINT`): buckets made with the SDK appear at the
// root, mkdir/rmdir there are CreateBucket/DeleteBucket, reads and writes in two buckets
// at once, the errno (and log line) of each refused op, df summed over the buckets, and a
// file staged by a killed daemon uploaded by the next whole-account mount.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { eventually, getObjectOrUndefined, sha256, stagedData, stagedRecordOf } from '../fixtures/helpers.js';
import { mount, runAsync, runS3mountAsync, serverEnv, type Mounted } from '../fixtures/mount.js';
import {
  createTestBucket,
  emptyAndDeleteBucket,
  makeS3Client,
  serverKindFromEnv,
  startServer,
  uniqueBucketName,
} from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const KiB = 1024;
const MiB = 1024 * KiB;

async function bucketExists(s3: S3Client, Bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket }));
    return true;
  } catch {
    return false;
  }
}

function df(dir: string): { size: number; used: number; iused: number } {
  const r = spawnSync('df', ['-B1', '--output=size,used,iused', dir], { encoding: 'utf8' });
  const [size, used, iused] = (r.stdout.trim().split('\n')[1] ?? '').trim().split(/\s+/).map(Number);
  return { size: size ?? NaN, used: used ?? NaN, iused: iused ?? NaN };
}

/** SIGKILL, as a crash would; the dead mount is detached by hand. */
async function kill(m: Mounted): Promise<void> {
  const exited =
    m.child.exitCode !== null || m.child.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => m.child.once('exit', r));
  m.child.kill('SIGKILL');
  await exited;
  spawnSync('fusermount', ['-uz', m.dir]);
}

t.test(`whole-account mount on ${kind}`, async (t) => {
  const server = await startServer(kind);
  const s3 = makeS3Client(server);
  const buckets: string[] = [];
  t.teardown(async () => {
    try {
      for (const b of buckets) await emptyAndDeleteBucket(server, b);
    } finally {
      s3.destroy();
      await server.stop();
    }
  });
  const newBucket = async (prefix: string) => {
    const b = await createTestBucket(server, prefix);
    buckets.push(b);
    return b;
  };
  const a = await newBucket('acct-a');
  const b = await newBucket('acct-b');
  const m = await mount(server, '', ['--metadata-ttl', '1']);
  t.teardown(() => m.unmount());

  t.test('buckets made with the SDK appear at the root', async (t) => {
    const root = await readdir(m.dir);
    t.ok(root.includes(a) && root.includes(b), 'the buckets of the mount time');
    const late = await newBucket('acct-late');
    t.ok(
      await eventually(async () => (await readdir(m.dir)).includes(late), 10_000, 200),
      'a bucket made after mounting is listed within --metadata-ttl',
    );
    t.ok((await stat(join(m.dir, late))).isDirectory(), 'a directory');
  });

  t.test('mkdir and rmdir at the root make and delete buckets', async (t) => {
    const name = uniqueBucketName('acct-mkdir');
    buckets.push(name); // removed at the end should the test fail half-way
    await mkdir(join(m.dir, name));
    t.ok(await bucketExists(s3, name), 'the SDK sees the new bucket');
    await writeFile(join(m.dir, name, 'f.txt'), 'in the new bucket');
    t.equal(
      (await getObjectOrUndefined(s3, name, 'f.txt'))?.toString(),
      'in the new bucket',
      'a file written in it is an object in it',
    );
    await rm(join(m.dir, name, 'f.txt'));
    await rmdir(join(m.dir, name));
    t.notOk(await bucketExists(s3, name), 'the SDK no longer sees it');
    t.notOk((await readdir(m.dir)).includes(name), 'gone from the root');
  });

  t.test('reads and writes in two buckets at once', async (t) => {
    const da = randomBytes(3 * MiB + 5);
    const db = randomBytes(2 * MiB + 7);
    await Promise.all([
      mkdir(join(m.dir, a, 'd')).then(() => writeFile(join(m.dir, a, 'd', 'data.bin'), da)),
      mkdir(join(m.dir, b, 'd')).then(() => writeFile(join(m.dir, b, 'd', 'data.bin'), db)),
    ]);
    const [sa, sb] = await Promise.all([
      getObjectOrUndefined(s3, a, 'd/data.bin'),
      getObjectOrUndefined(s3, b, 'd/data.bin'),
    ]);
    t.equal(sa && sha256(sa), sha256(da), `${a}: the SDK reads what was written`);
    t.equal(sb && sha256(sb), sha256(db), `${b}: the SDK reads what was written`);
    const other = randomBytes(MiB);
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'sdk.bin', Body: other }));
    const [ra, rb, ro] = await Promise.all([
      readFile(join(m.dir, a, 'd', 'data.bin')),
      readFile(join(m.dir, b, 'd', 'data.bin')),
      readFile(join(m.dir, b, 'sdk.bin')),
    ]);
    t.equal(sha256(ra), sha256(da), 'read back from the first bucket');
    t.equal(sha256(rb), sha256(db), 'read back from the second bucket');
    t.equal(sha256(ro), sha256(other), 'an object the SDK put');
  });

  t.test('each refused op has its errno and a log line', async (t) => {
    await s3.send(new PutObjectCommand({ Bucket: a, Key: 'keep.txt', Body: 'x' }));
    await t.rejects(mkdir(join(m.dir, 'Bad_Name')), { code: 'EINVAL' }, 'an invalid bucket name');
    await t.rejects(mkdir(join(m.dir, a)), { code: 'EEXIST' }, 'a bucket that exists');
    await t.rejects(rmdir(join(m.dir, a)), { code: 'ENOTEMPTY' }, 'a bucket with keys');
    t.ok(await bucketExists(s3, a), 'still there');
    await t.rejects(writeFile(join(m.dir, 'plain.txt'), 'x'), { code: 'EPERM' }, 'a file at the root');
    await t.rejects(symlink(a, join(m.dir, 'link')), { code: 'EPERM' }, 'a symlink at the root');
    const fifo = spawnSync('mkfifo', [join(m.dir, 'fifo')], { encoding: 'utf8' });
    t.not(fifo.status, 0, 'mkfifo at the root fails');
    t.match(fifo.stderr, /Operation not permitted/, 'with EPERM');
    await t.rejects(
      rename(join(m.dir, a, 'keep.txt'), join(m.dir, b, 'keep.txt')),
      { code: 'EXDEV' },
      'a rename across buckets',
    );
    await t.rejects(
      rename(join(m.dir, a), join(m.dir, uniqueBucketName('acct-ren'))),
      { code: 'EXDEV' },
      'a bucket',
    );
    t.ok(
      await eventually(
        () =>
          m.output().includes('cannot create a file: only buckets') &&
          m.output().includes('cannot rename across buckets') &&
          m.output().includes('a bucket cannot be renamed'),
        5000,
      ),
      'the log says why',
    );
  });

  t.test('df sums the buckets', async (t) => {
    await s3.send(new PutObjectCommand({ Bucket: a, Key: 'df-a', Body: Buffer.alloc(100 * KiB, 1) }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'df-b', Body: Buffer.alloc(200 * KiB, 2) }));
    if (kind !== 'rgw') {
      const d = df(m.dir);
      t.equal(d.used, 0, 'no usage known (s3rver has no X-RGW-* headers): nothing used');
      t.ok(d.size >= 16 * 1024 ** 4 - 4 * KiB, `very large (${d.size})`);
      return;
    }
    // both buckets' objects at least (other buckets on a shared RGW add to it)
    const least = 100 * KiB + 200 * KiB + 3 * MiB + 2 * MiB + MiB;
    t.ok(
      await eventually(() => df(m.dir).used >= least && df(m.dir).iused >= 5, 10_000, 300),
      `df shows the bytes and objects of both buckets (${JSON.stringify(df(m.dir))})`,
    );
  });

  t.test('status and sync of a whole-account mount', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 's3mount-acct-ctl-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const stateEnv = { XDG_STATE_HOME: join(work, 'state') };
    const wb = await mount(server, '', ['--write-back'], stateEnv);
    t.teardown(() => wb.unmount());
    const data = randomBytes(150 * KiB);
    await writeFile(join(wb.dir, a, 'synced.bin'), data);
    const r = await runS3mountAsync(['sync', join(wb.dir, a)], serverEnv(server, stateEnv));
    t.equal(r.status, 0, `sync exits 0 ${r.stderr}`);
    const got = await getObjectOrUndefined(s3, a, 'synced.bin');
    t.equal(got && sha256(got), sha256(data), 'in S3 once sync returned');
    const st = await runS3mountAsync(['status', wb.dir], serverEnv(server, stateEnv));
    t.equal(st.status, 0, `status exits 0 ${st.stderr}`);
    t.match(st.stdout, /\(every bucket\)/, 'status names the mount as every bucket');

    // s3mount share: the first component is the bucket; the bucket itself is a directory
    const sh = await runS3mountAsync(['share', join(wb.dir, a, 'synced.bin')], serverEnv(server, stateEnv));
    t.equal(sh.status, 0, `share exits 0 ${sh.stderr}`);
    const url = sh.stdout.trim();
    t.match(url, new RegExp(`/${a}/synced\\.bin\\?`), 'a link to the bucket and key');
    const out = join(work, 'fetched');
    const curl = await runAsync(
      'curl',
      ['-sS', '--noproxy', '*', '-o', out, '-w', '%{http_code}', url],
      process.env,
    );
    t.equal(curl.stdout.trim(), '200', 'curl gets it');
    t.equal(sha256(await readFile(out)), sha256(data), 'the exact bytes');
    const dir = await runS3mountAsync(['share', join(wb.dir, a)], serverEnv(server, stateEnv));
    t.not(dir.status, 0, 'a bucket (a directory) cannot be shared');
    t.match(dir.stderr, /is a directory/);
  });

  t.test('one positional that is no directory: one line naming both forms', async (t) => {
    const r = await runS3mountAsync(
      [join(tmpdir(), `no-such-dir-${Date.now()}`), '--endpoint', server.endpoint, '--foreground'],
      serverEnv(server),
      60_000,
    );
    t.equal(r.status, 1, 'exit 1');
    t.match(r.stderr, /does not exist.*to mount one bucket: s3mount BUCKET MOUNTPOINT/, r.stderr);
  });

  t.test('a file staged by a killed daemon is uploaded by the next whole-account mount', async (t) => {
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(() => rm(staging, { recursive: true, force: true }));
    const first = await mount(server, '', [], {}, { stagingDir: staging });
    t.teardown(() => first.unmount());
    const data = randomBytes(600 * KiB);
    const fh = await open(join(first.dir, b, 'staged.bin'), 'w');
    await fh.write(data, 0, data.length, 0);
    t.ok(await eventually(() => stagedRecordOf(staging, 'staged.bin'), 10_000), 'its record is written');
    await kill(first); // never closed: nothing uploaded
    await fh.close().catch(() => undefined); // the mount is gone
    t.equal(await getObjectOrUndefined(s3, b, 'staged.bin'), undefined, 'not in S3 after the crash');
    const [accountDir] = await readdir(staging);
    t.ok(
      (await stagedData(join(staging, accountDir ?? ''))).some((d) => sha256(d) === sha256(data)),
      'staged on disk, in the bucket directory',
    );

    const second = await mount(server, '', [], {}, { stagingDir: staging });
    t.teardown(() => second.unmount());
    t.ok(
      await eventually(
        async () => {
          const got = await getObjectOrUndefined(s3, b, 'staged.bin');
          return got !== undefined && sha256(got) === sha256(data);
        },
        30_000,
        300,
      ),
      'the remount uploaded it, without the bucket being touched',
    );
  });

  t.test('no secret in what the daemon printed or in its command line', async (t) => {
    if (server.secretAccessKey === server.accessKeyId) {
      t.plan(0, 's3rver: its secret is its access key, which may be shown'); // skipped
      return;
    }
    t.notOk(m.output().includes(server.secretAccessKey), 'the whole-account daemon never printed the secret');
    const cmdline = await readFile(`/proc/${m.child.pid}/cmdline`, 'utf8').catch(() => '');
    t.notOk(cmdline.includes(server.secretAccessKey), 'nor has it on its command line');
  });
});
