// The filesystem core in-process over the failure-injecting store: namespace changes,
// truncate, overwrite and unlink while S3 fails part-way. Whatever fails, nothing written
// is lost, the errno is the one a program would see, and trying again completes it.
import t from 'tap';
import { constants } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { errnoOf, pattern, readFile, readHandle, testCore, writeFile } from '../../fixtures/core.js';
import { FaultyObjectStore } from '../../fixtures/faulty-store.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const { O_RDWR, O_WRONLY } = constants;
const KiB = 1024;

const stored = (store: MemoryObjectStore, key: string) => store.objects.get(key)?.data;
const stagedCount = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.data')).length;

t.test('rename of a file whose copy fails: EIO, the source intact, a retry moves it', async (t) => {
  const store = new MemoryObjectStore();
  const data = pattern(70 * KiB, 1);
  store.putBytes('a.bin', data);
  const faulty = new FaultyObjectStore(store).failNth('copy', 1);
  const { fs } = await testCore(t, { store: faulty });
  t.equal(await errnoOf(fs.rename('/a.bin', '/b.bin')), 'EIO', 'the failed copy is EIO');
  t.same(stored(store, 'a.bin'), data, 'the source still has its bytes');
  t.notOk(store.objects.has('b.bin'), 'no target');
  t.same(await readFile(fs, '/a.bin'), data, 'the old name still reads');
  t.equal(await errnoOf(fs.rename('/a.bin', '/b.bin')), 'ok', 'a second rename works');
  t.same([...store.objects.keys()], ['b.bin']);
  t.same(await readFile(fs, '/b.bin'), data);
});

t.test('rename of a file whose delete fails: EIO, and both names hold the bytes', async (t) => {
  const store = new MemoryObjectStore();
  const data = pattern(10 * KiB, 2);
  store.putBytes('a.bin', data);
  const faulty = new FaultyObjectStore(store).failNth('delete', 1);
  const { fs } = await testCore(t, { store: faulty });
  t.equal(await errnoOf(fs.rename('/a.bin', '/b.bin')), 'EIO');
  // SEMANTICS.md: a rename is a copy, then a delete: there is a moment where both exist
  t.same(stored(store, 'a.bin'), data, 'nothing lost: the source is there');
  t.same(stored(store, 'b.bin'), data, 'and the copy');
});

t.test('rename of a directory whose copies fail half-way: no key lost, a retry completes it', async (t) => {
  const store = new MemoryObjectStore();
  const files = ['x', 'y', 'z', 'sub/w'].map((name, i) => ({ name, data: pattern(5 * KiB + i, 10 + i) }));
  store.putBytes('d/', '');
  for (const f of files) store.putBytes(`d/${f.name}`, f.data);
  const faulty = new FaultyObjectStore(store).failNth('copy', 3);
  const { fs } = await testCore(t, { store: faulty });
  t.equal(await errnoOf(fs.rename('/d', '/e')), 'EIO', 'the rename fails');
  for (const f of files) t.same(stored(store, `d/${f.name}`), f.data, `d/${f.name} is still there`);
  t.equal(await errnoOf(fs.rename('/d', '/e')), 'ok', 'the same rename again completes it');
  for (const f of files) t.same(stored(store, `e/${f.name}`), f.data, `e/${f.name} has its bytes`);
  t.notOk(
    [...store.objects.keys()].some((k) => k.startsWith('d/')),
    'nothing left under the old name',
  );
});

t.test('unlink whose DELETE fails: EIO, the file stays, also for a file open here', async (t) => {
  const store = new MemoryObjectStore();
  const faulty = new FaultyObjectStore(store);
  const core = await testCore(t, { store: faulty });
  const { fs } = core;
  const data = pattern(20 * KiB, 3);
  await writeFile(fs, '/u.bin', data);
  faulty.failNth('delete', 1);
  t.equal(await errnoOf(fs.unlink('/u.bin')), 'EIO');
  t.same(stored(store, 'u.bin'), data, 'the object is still there');
  t.same(await readFile(fs, '/u.bin'), data, 'and reads');

  const fh = await fs.open('/u.bin', O_RDWR);
  faulty.failNth('delete', 1);
  t.equal(await errnoOf(fs.unlink('/u.bin')), 'EIO', 'unlink of the open file fails');
  await fs.write(fh, Buffer.from('new'), 0, 3);
  await fs.flush(fh);
  await fs.release(fh);
  const want = Buffer.from(data);
  want.write('new', 0);
  t.same(stored(store, 'u.bin'), want, 'the file was not unlinked: its close uploaded the write');
});

t.test('truncate whose upload fails: the errno, the file stays staged, the retry uploads it', async (t) => {
  const store = new MemoryObjectStore();
  const data = pattern(100 * KiB, 4);
  store.putBytes('t.bin', data);
  const faulty = new FaultyObjectStore(store).failNth('put', 1);
  const core = await testCore(t, { store: faulty });
  t.equal(await errnoOf(core.fs.truncate('/t.bin', 30 * KiB)), 'EIO', 'the failed upload is EIO');
  t.same(stored(store, 't.bin'), data, 'S3 still has the old bytes');
  t.equal((await core.fs.getattr('/t.bin')).size, 30 * KiB, 'stat shows the truncated size');
  await core.drain();
  t.same(stored(store, 't.bin'), data.subarray(0, 30 * KiB), 'the background retry uploaded it');
  t.equal(await stagedCount(core.stagingDir), 0, 'nothing left staged');
});

t.test('overwrite whose copy-in GET fails: EIO, nothing staged, the object intact', async (t) => {
  const store = new MemoryObjectStore();
  const data = pattern(150 * KiB, 5);
  store.putBytes('o.bin', data);
  const faulty = new FaultyObjectStore(store).failNth('getRange', 1);
  const core = await testCore(t, { store: faulty });
  const { fs } = core;
  t.equal(await errnoOf(fs.open('/o.bin', O_RDWR)), 'EIO', 'open for writing fails');
  t.equal(await stagedCount(core.stagingDir), 0, 'no half-copied staging file left');
  const fh = await fs.open('/o.bin', O_RDWR);
  await fs.write(fh, Buffer.from('!'), 100 * KiB, 1);
  await fs.flush(fh);
  await fs.release(fh);
  const want = Buffer.from(data);
  want.write('!', 100 * KiB);
  t.same(stored(store, 'o.bin'), want, 'the next open copies it in and the write lands on the old bytes');

  // a body cut short while copying in: the same, never a staged file with a hole
  faulty.cutBody('getRange', 1, 10 * KiB);
  t.equal(await errnoOf(fs.open('/o.bin', O_WRONLY)), 'EIO', 'a cut body fails the open');
  t.equal(await stagedCount(core.stagingDir), 0, 'nothing staged');
  t.same(stored(store, 'o.bin'), want, 'the object is untouched');
});

t.test('ESTALE when another client replaces the object before an open for writing copies it', async (t) => {
  const store = new MemoryObjectStore();
  store.putBytes('s.bin', pattern(50 * KiB, 6));
  const { fs } = await testCore(t, { store });
  await fs.getattr('/s.bin'); // the mount knows the old version
  const v2 = pattern(60 * KiB, 7);
  store.putBytes('s.bin', v2); // another client, within --metadata-ttl
  t.equal(await errnoOf(fs.open('/s.bin', O_RDWR)), 'ESTALE', 'the copy-in is pinned to the ETag seen');
  // SEMANTICS.md: after ESTALE the mount forgets the object, so opening it again sees the new version
  const fh = await fs.open('/s.bin', O_RDWR);
  t.same(await readHandle(fs, fh), v2, 'the next open copies in the new version');
  await fs.release(fh);
});

t.test('a file unlinked while its upload is failing is not uploaded after a restart', async (t) => {
  const store = new MemoryObjectStore();
  const down = new FaultyObjectStore(store).failAlways('put');
  const first = await testCore(t, { store: down, retry: { baseMs: 60_000, maxMs: 60_000 } });
  const fh = await first.fs.create('/gone.bin', 0o644);
  await first.fs.write(fh, pattern(KiB, 8), 0, KiB);
  t.equal(await errnoOf(first.fs.flush(fh)), 'EIO', 'the upload fails');
  t.equal(await errnoOf(first.fs.unlink('/gone.bin')), 'ok', 'unlink while open');
  first.stop(); // the daemon dies with the handle open
  const second = await testCore(t, { store, stagingDir: first.stagingDir });
  t.equal(await second.recover(), 0, 'nothing to recover');
  await second.drain();
  t.notOk(store.objects.has('gone.bin'), 'the unlinked file did not come back');
  t.equal(await stagedCount(first.stagingDir), 0, 'and its staged copy is gone');
});

t.test(
  'a close whose upload failed, then a successful close of the same file: nothing left staged',
  async (t) => {
    const store = new MemoryObjectStore();
    const faulty = new FaultyObjectStore(store).failNth('put', 1);
    const core = await testCore(t, { store: faulty, retry: { baseMs: 60_000, maxMs: 60_000 } });
    const { fs } = core;
    const fh = await fs.create('/r.bin', 0o644);
    await fs.write(fh, Buffer.from('first'), 0, 5);
    t.equal(await errnoOf(fs.flush(fh)), 'EIO', 'the close fails: EIO');
    await fs.release(fh);
    t.equal(await stagedCount(core.stagingDir), 1, 'the data stays staged');
    const again = await fs.open('/r.bin', O_RDWR);
    await fs.write(again, Buffer.from('second'), 5, 6);
    t.equal(await errnoOf(fs.flush(again)), 'ok', 'the user closes it again: uploaded');
    await fs.release(again);
    t.same(stored(store, 'r.bin'), Buffer.from('firstsecond'), 'S3 has both writes');
    await core.drain();
    t.equal(await stagedCount(core.stagingDir), 0, 'nothing left staged');
    t.same(stored(store, 'r.bin'), Buffer.from('firstsecond'), 'and nothing older uploaded over it');
  },
);
