// The root of a whole-account mount in-process (buildAccountCore over the in-memory
// account, no FUSE): buckets as directories, mkdir/rmdir as CreateBucket/DeleteBucket, the
// errno of each refused op, reads and writes routed per bucket, recovery of staged files.
import t from 'tap';
import { constants } from 'node:fs';
import { buildAccountCore, type AccountCore } from '../../../src/account-core.js';
import { accountObjectOf, splitAccountPath } from '../../../src/fs/account-root.js';
import { nullLogger } from '../../../src/log/logger.js';
import { ManualClock } from '../../../src/util/clock.js';
import { errnoOf, pattern, readFile, tempStagingDir, testConfig, writeFile } from '../../fixtures/core.js';
import { MemoryAccountStore } from '../../fixtures/memory-account.js';

interface Teardown {
  teardown(f: () => unknown): void;
}

const TTL_MS = 5000;

function accountCore(
  t: Teardown,
  account: MemoryAccountStore,
  stagingDir: string,
  clock = new ManualClock(1_000_000),
): AccountCore {
  const cfg = {
    ...testConfig(stagingDir, { 'metadata-ttl': String(TTL_MS / 1000), 'negative-ttl': '1' }),
    bucket: '',
    prefix: '',
  };
  const core = buildAccountCore({
    cfg,
    account,
    logger: nullLogger(),
    clock,
    stagingDir,
    uploadRetry: { baseMs: 10, maxMs: 40 },
  });
  t.teardown(() => core.stop());
  return core;
}

const names = async (core: AccountCore, path: string) =>
  (await core.fs.readdir(path)).map((e) => e.name).filter((n) => n !== '.' && n !== '..');

t.test('paths split at the bucket', async (t) => {
  t.equal(splitAccountPath('/'), undefined, 'the root');
  t.same(splitAccountPath('/b'), { bucket: 'b', path: '/' }, 'a bucket itself');
  t.same(splitAccountPath('/b/x/y'), { bucket: 'b', path: '/x/y' });
  t.same(accountObjectOf('/b/x/y.txt'), { bucket: 'b', key: 'x/y.txt' }, 'share: bucket and key');
  t.equal(accountObjectOf('/b'), undefined, 'a bucket is not an object');
  t.equal(accountObjectOf('/'), undefined);
});

t.test('the root lists the buckets; one made elsewhere appears within the TTL', async (t) => {
  const account = new MemoryAccountStore();
  account.add('alpha');
  const clock = new ManualClock(1_000_000);
  const core = accountCore(t, account, await tempStagingDir(t), clock);
  t.same(await names(core, '/'), ['alpha']);
  account.add('beta');
  t.same(await names(core, '/'), ['alpha'], 'the listing is cached for --metadata-ttl');
  t.equal(
    (await core.fs.getattr('/beta')).mode & constants.S_IFMT,
    constants.S_IFDIR,
    'a lookup finds it at once',
  );
  clock.advance(TTL_MS);
  t.same(await names(core, '/'), ['alpha', 'beta'], 'listed after the TTL');
  t.equal(await errnoOf(core.fs.getattr('/gamma')), 'ENOENT', 'no such bucket');
  t.equal(await errnoOf(core.fs.getattr('/gamma/x')), 'ENOENT', 'nothing inside a bucket that is not there');
  t.equal(await errnoOf(core.fs.getattr('/.Trash')), 'ENOENT', 'a name that cannot be a bucket');
  t.equal(core.cores().size, 0, 'listing and stat of buckets set none of them up');
});

t.test('reads and writes inside two buckets, the same key in each', async (t) => {
  const account = new MemoryAccountStore();
  const a = account.add('bucket-a');
  const b = account.add('bucket-b');
  const core = accountCore(t, account, await tempStagingDir(t));
  const da = pattern(200 * 1024, 1);
  const db = pattern(200 * 1024, 2);
  await Promise.all([core.fs.mkdir('/bucket-a/d', 0o755), core.fs.mkdir('/bucket-b/d', 0o755)]);
  await Promise.all([
    writeFile(core.fs, '/bucket-a/d/f.bin', da),
    writeFile(core.fs, '/bucket-b/d/f.bin', db),
  ]);
  t.same(a.objects.get('d/f.bin')?.data, da, 'bucket-a has its bytes');
  t.same(b.objects.get('d/f.bin')?.data, db, 'bucket-b has its bytes');
  // the same ETag in both buckets: the shared block cache must still keep them apart
  for (const [store, data] of [
    [a, pattern(100 * 1024, 3)],
    [b, pattern(100 * 1024, 4)],
  ] as const)
    store.objects.set('same.bin', { data, etag: 'same-etag', lastModifiedMs: 1000, metadata: {} });
  t.same(await readFile(core.fs, '/bucket-a/same.bin'), pattern(100 * 1024, 3));
  t.same(await readFile(core.fs, '/bucket-b/same.bin'), pattern(100 * 1024, 4), 'not bucket-a blocks');
  t.same(await names(core, '/bucket-a/d'), ['f.bin'], 'listing inside a bucket');
  t.equal(core.cores().size, 2, 'both buckets set up on first use');
});

t.test('mkdir and rmdir at the root are CreateBucket and DeleteBucket', async (t) => {
  const account = new MemoryAccountStore();
  const full = account.add('full');
  full.putBytes('k', 'x');
  const core = accountCore(t, account, await tempStagingDir(t));
  await core.fs.mkdir('/new-bucket', 0o755);
  t.ok(account.buckets.has('new-bucket'), 'created');
  t.ok((await names(core, '/')).includes('new-bucket'), 'listed at once');
  t.equal(await errnoOf(core.fs.mkdir('/new-bucket', 0o755)), 'EEXIST', 'exists');
  t.equal(await errnoOf(core.fs.mkdir('/Bad_Name', 0o755)), 'EINVAL', 'invalid name');
  t.equal(await errnoOf(core.fs.mkdir('/ab', 0o755)), 'EINVAL', 'too short');
  t.equal(account.calls.createBucket, 1, 'no CreateBucket for the refused names');
  t.equal(await errnoOf(core.fs.rmdir('/full')), 'ENOTEMPTY', 'a bucket with keys');
  t.ok(account.buckets.has('full'));
  await writeFile(core.fs, '/new-bucket/f', Buffer.from('data'));
  t.equal(await errnoOf(core.fs.rmdir('/new-bucket')), 'ENOTEMPTY', 'a bucket written through the mount');
  await core.fs.unlink('/new-bucket/f');
  await core.fs.rmdir('/new-bucket');
  t.notOk(account.buckets.has('new-bucket'), 'deleted');
  t.notOk((await names(core, '/')).includes('new-bucket'), 'gone from the listing');
  t.equal(await errnoOf(core.fs.rmdir('/new-bucket')), 'ENOENT', 'twice');
  t.notOk(core.cores().has('new-bucket'), 'its filesystem is dropped');
});

t.test('what the root refuses, and why', async (t) => {
  const account = new MemoryAccountStore();
  account.add('one').putBytes('f', 'x');
  account.add('two');
  const core = accountCore(t, account, await tempStagingDir(t));
  t.equal(await errnoOf(core.fs.create('/file', 0o644)), 'EPERM', 'a file at the root');
  t.equal(await errnoOf(core.fs.symlink('one', '/link')), 'EPERM', 'a symlink at the root');
  t.equal(await errnoOf(core.fs.mknod('/fifo', constants.S_IFIFO | 0o644, 0)), 'EPERM', 'a FIFO at the root');
  t.equal(await errnoOf(core.fs.rename('/one/f', '/two/f')), 'EXDEV', 'across buckets');
  t.equal(await errnoOf(core.fs.rename('/one', '/three')), 'EXDEV', 'a bucket');
  t.equal(await errnoOf(core.fs.rename('/one/f', '/f')), 'EXDEV', 'out to the root');
  t.equal(await errnoOf(core.fs.unlink('/one')), 'EISDIR', 'unlink of a bucket');
  t.equal(await errnoOf(core.fs.chmod('/one', 0o700)), 'EPERM', 'chmod of a bucket');
  t.equal(await errnoOf(core.fs.open('/one', constants.O_RDONLY)), 'EISDIR');
  t.equal(await errnoOf(core.fs.read(12345, Buffer.alloc(1), 0, 1)), 'EBADF', 'an unknown handle');
  await core.fs.rename('/one/f', '/one/g');
  t.ok(account.buckets.get('one')?.store.objects.has('g'), 'a rename inside one bucket works');
});

t.test('a read-only whole-account mount', async (t) => {
  const account = new MemoryAccountStore();
  account.add('one');
  const stagingDir = await tempStagingDir(t);
  const core = buildAccountCore({
    cfg: { ...testConfig(stagingDir, { 'read-only': true }), bucket: '', prefix: '' },
    account,
    logger: nullLogger(),
    clock: new ManualClock(0),
    stagingDir,
  });
  t.teardown(() => core.stop());
  t.equal(await errnoOf(core.fs.mkdir('/new-one', 0o755)), 'EROFS');
  t.equal(await errnoOf(core.fs.rmdir('/one')), 'EROFS');
  t.equal(await errnoOf(core.fs.create('/x', 0o644)), 'EROFS');
});

t.test('files staged and not uploaded are uploaded by the next mount', async (t) => {
  const account = new MemoryAccountStore();
  const store = account.add('kept');
  const stagingDir = await tempStagingDir(t);
  const first = accountCore(t, account, stagingDir);
  const fh = await first.fs.create('/kept/staged.bin', 0o644);
  const data = pattern(64 * 1024, 9);
  await first.fs.write(fh, data, 0, data.length);
  // the daemon dies here: no close, nothing uploaded
  first.stop();
  t.notOk(store.objects.has('staged.bin'), 'not uploaded before the crash');

  const second = accountCore(t, account, stagingDir);
  t.equal(await second.recover(), 1, 'one staged file found');
  t.ok(second.cores().has('kept'), 'its bucket set up at once');
  await second.drain();
  t.same(store.objects.get('staged.bin')?.data, data, 'uploaded by the new mount');
});
