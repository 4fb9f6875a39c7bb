// Change from another client, in-process (buildCore over the in-memory store): open read
// handles keep one version or fail with ESTALE once the mount learns of another; a name
// put elsewhere is found by name although a cached listing misses it.
import t from 'tap';
import { constants } from 'node:fs';
import {
  errnoOf,
  pattern,
  READ_BYTES,
  readFile,
  readHandle,
  testCore,
  writeFile,
} from '../../fixtures/core.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const { O_RDONLY } = constants;
const KiB = 1024;
const PAST_TTL_MS = 31_000; // --metadata-ttl 30 s

t.test('a handle of a version the mount learns is replaced: ESTALE on every read', async (t) => {
  const store = new MemoryObjectStore();
  const { fs, clock } = await testCore(t, { store });
  const v1 = pattern(16, 1);
  store.putBytes('f.txt', v1);
  t.same(await readFile(fs, '/f.txt'), v1, 'read once');
  const kept = await fs.open('/f.txt', O_RDONLY);
  store.putBytes('f.txt', Buffer.from('xyz')); // shorter, as in the report
  clock.advance(PAST_TTL_MS);
  t.equal((await fs.getattr('/f.txt')).size, 3, 'stat (the kernel before a read) learns the new size');
  const buf = Buffer.alloc(READ_BYTES);
  t.equal(await errnoOf(fs.read(kept, buf, 0, buf.length)), 'ESTALE', 'the kept handle: ESTALE');
  t.equal(await errnoOf(fs.read(kept, buf, 1, 4)), 'ESTALE', 'at any offset, every time');
  await fs.release(kept);
  t.same(await readFile(fs, '/f.txt'), Buffer.from('xyz'), 'a new open reads the new version');
});

t.test('a handle that handed out bytes never moves to another version', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  const v1 = pattern(300 * KiB, 2);
  store.putBytes('b.bin', v1);
  const fh = await fs.open('/b.bin', O_RDONLY);
  const first = Buffer.alloc(4 * KiB);
  t.equal(await fs.read(fh, first, 0, first.length), first.length);
  store.putBytes('b.bin', pattern(100 * KiB, 3)); // shorter: a fresh handle could move, this one not
  const got = await readHandle(fs, fh, 0).then(
    (b) => b,
    (err: unknown) => err,
  );
  if (Buffer.isBuffer(got)) t.same(got, v1, 'the old version whole (cached)');
  else t.equal(await errnoOf(Promise.reject(got)), 'ESTALE', 'or ESTALE');
  await fs.release(fh);
});

t.test('written here, replaced by another client, opened anew: the new version', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  await writeFile(fs, '/w.txt', Buffer.from('written through the mount'));
  store.putBytes('w.txt', Buffer.from('other client')); // shorter
  t.same(await readFile(fs, '/w.txt'), Buffer.from('other client'), 'no ESTALE: the new bytes');
  t.equal((await fs.getattr('/w.txt')).size, 'other client'.length, 'stat agrees');
});

t.test('a name put elsewhere is looked up although a cached listing misses it', async (t) => {
  const store = new MemoryObjectStore();
  const { fs, clock } = await testCore(t, { store });
  store.putBytes('d/one', 'x');
  t.same(
    (await fs.readdir('/d')).map((e) => e.name),
    ['.', '..', 'one'],
    'listed (cached for --metadata-ttl)',
  );
  store.putBytes('d/two', 'from another node');
  clock.advance(5_001); // --negative-ttl
  const heads = store.calls.head ?? 0;
  t.equal((await fs.getattr('/d/two')).size, 'from another node'.length, 'stat by name finds it');
  t.same(await readFile(fs, '/d/two'), Buffer.from('from another node'), 'open by name reads it');
  t.ok(
    (await fs.readdir('/d')).some((e) => e.name === 'two'),
    'a small directory was listed again to answer the miss: readdir shows it too',
  );
  t.equal(store.calls.head ?? 0, heads, 'no HEAD for the missing name: one LIST of the directory');
  clock.advance(PAST_TTL_MS);
  t.ok(
    (await fs.readdir('/d')).some((e) => e.name === 'two'),
    'listed after --metadata-ttl',
  );
  t.equal(await errnoOf(fs.getattr('/d/three')), 'ENOENT', 'a name nobody put: ENOENT');
  store.putBytes('d/three', '3');
  t.equal(await errnoOf(fs.getattr('/d/three')), 'ENOENT', 'remembered missing for --negative-ttl');
  clock.advance(5_001);
  t.equal((await fs.getattr('/d/three')).size, 1, 'then found');
});

t.test('an object deleted elsewhere while open', async (t) => {
  const store = new MemoryObjectStore();
  const { fs, clock } = await testCore(t, { store });
  store.putBytes('g.bin', pattern(300 * KiB, 4));
  const fh = await fs.open('/g.bin', O_RDONLY);
  const buf = Buffer.alloc(4 * KiB);
  t.equal(await fs.read(fh, buf, 0, buf.length), buf.length, 'read the start');
  store.objects.delete('g.bin');
  clock.advance(PAST_TTL_MS);
  t.equal(await errnoOf(fs.getattr('/g.bin')), 'ENOENT', 'a lookup finds it gone');
  t.equal(await errnoOf(fs.read(fh, buf, 0, buf.length)), 'ESTALE', 'the open handle: ESTALE');
  await fs.release(fh);
  const fresh = await fs.open('/h.bin', O_RDONLY).catch((err: unknown) => err);
  t.equal(await errnoOf(Promise.reject(fresh)), 'ENOENT', 'a missing name: ENOENT');
});
