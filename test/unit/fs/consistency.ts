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
import { CHANGED_RECENTLY_MS, KERNEL_ATTR_MS } from '../../../src/fs/object-handles.js';

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
  clock.advance(KERNEL_ATTR_MS); // (a new open waits out the kernel's attribute cache: below)
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
  const { fs, clock } = await testCore(t, { store });
  await writeFile(fs, '/w.txt', Buffer.from('written through the mount'));
  store.putBytes('w.txt', Buffer.from('other client')); // shorter
  // through the page cache the kernel holds the size seen at open and could pad the
  // shorter version's bytes to it with zeros: that first read fails instead
  t.equal(await errnoOf(readFile(fs, '/w.txt')), 'ESTALE', 'a page-cache open: ESTALE, not padded bytes');
  t.equal((await fs.getattr('/w.txt')).size, 'other client'.length, 'stat learns the new size');
  clock.advance(KERNEL_ATTR_MS);
  t.same(await readFile(fs, '/w.txt'), Buffer.from('other client'), 'a new open reads the new version');
  // the path was seen changing: opens bypass the page cache, and such a handle may move to
  // a shorter version without an error (the kernel hands out exactly the bytes answered)
  store.putBytes('w.txt', Buffer.from('a third version, not read here'));
  clock.advance(PAST_TTL_MS);
  t.equal((await fs.getattr('/w.txt')).size, 30, 'stat learns the third version (its blocks not cached)');
  clock.advance(KERNEL_ATTR_MS);
  const fh = await fs.open('/w.txt', O_RDONLY);
  t.ok(fs.bypassesPageCache(fh), 'the open bypasses the page cache');
  store.putBytes('w.txt', Buffer.from('other')); // shorter, before any read
  t.same(await readHandle(fs, fh), Buffer.from('other'), 'a direct_io handle moves to the shorter version');
  await fs.release(fh);
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

t.test(
  'a new open just after the mount learnt a new size waits out the kernel attribute cache',
  async (t) => {
    const store = new MemoryObjectStore();
    const { fs, clock } = await testCore(t, { store });
    store.putBytes('k.txt', Buffer.from('short'));
    t.equal((await fs.getattr('/k.txt')).size, 5, 'the kernel is told 5 bytes');
    store.putBytes('k.txt', Buffer.from('a longer version'));
    clock.advance(PAST_TTL_MS);
    t.equal((await fs.getattr('/k.txt')).size, 16, 'a lookup learns the new size');
    // the kernel may hold 5 bytes for its attribute timeout: an open now must not let it
    // cut the new version at 5 (what load.ts saw as a read of one version clipped)
    let opened = false;
    const open = fs.open('/k.txt', O_RDONLY).then((fh) => {
      opened = true;
      return fh;
    });
    await new Promise((r) => setTimeout(r, 20));
    t.notOk(opened, 'the open waits while the kernel may hold the old size');
    t.equal(clock.sleeping, 1, 'for the kernel attribute timeout');
    clock.advance(KERNEL_ATTR_MS);
    const fh = await open;
    t.same(await readHandle(fs, fh), Buffer.from('a longer version'), 'then reads the new version whole');
    await fs.release(fh);
    const again = await fs.open('/k.txt', O_RDONLY);
    t.ok(again > 0, 'a later open does not wait');
    await fs.release(again);
  },
);

t.test(
  'an open file deleted elsewhere, then renamed over here (libfuse hides it): the rename works',
  async (t) => {
    const store = new MemoryObjectStore();
    const { fs } = await testCore(t, { store });
    store.putBytes('s/one', pattern(10 * KiB, 5));
    store.putBytes('s/keep', 'k');
    const reader = await fs.open('/s/one', O_RDONLY);
    const head = Buffer.alloc(KiB);
    t.equal(await fs.read(reader, head, 0, head.length), head.length, 'a reader has it open');
    store.objects.delete('s/one'); // another node deletes it; this mount still knows it
    await writeFile(fs, '/s/.tmp-1', Buffer.from('new content'));
    // what libfuse does for rename(tmp, one) while `one` is open: hide it, then rename
    const hidden = '/s/.fuse_hidden0000000200000001';
    t.equal(await errnoOf(fs.getattr(hidden)), 'ENOENT', 'libfuse first checks the hidden name is free');
    t.equal(await errnoOf(fs.rename('/s/one', hidden)), 'ok', 'hiding a file gone from S3 works');
    t.equal(await errnoOf(fs.rename('/s/.tmp-1', '/s/one')), 'ok', 'the rename itself works');
    t.same([...store.objects.keys()].sort(), ['s/keep', 's/one'], 'nothing hidden is stored in S3');
    t.equal((await fs.getattr(hidden)).size, 10 * KiB, 'fstat of the hidden file shows what it was');
    t.equal(
      await errnoOf(fs.read(reader, head, 0, head.length)),
      'ok',
      'the reader reads its cached version',
    );
    t.same(await readFile(fs, '/s/one'), Buffer.from('new content'), 'the name has the new file');
    await fs.release(reader);
    t.equal(await errnoOf(fs.unlink(hidden)), 'ok', 'libfuse unlinks the hidden name at the last release');
    t.equal(await errnoOf(fs.getattr(hidden)), 'ENOENT', 'then it is gone');
    t.same([...store.objects.keys()].sort(), ['s/keep', 's/one'], 'and S3 keeps the new file');
  },
);

t.test('unlink of an open file (libfuse hides it): the object goes, no copy is made', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  store.putBytes('u.bin', pattern(8 * KiB, 6));
  const fh = await fs.open('/u.bin', O_RDONLY);
  const hidden = '/.fuse_hidden0000000100000002';
  t.equal(await errnoOf(fs.rename('/u.bin', hidden)), 'ok', 'hidden');
  t.same([...store.objects.keys()], [], 'the object is deleted, nothing copied');
  t.equal(await errnoOf(fs.getattr('/u.bin')), 'ENOENT', 'the name is gone');
  t.notOk(
    (await fs.readdir('/')).some((e) => e.name.startsWith('.fuse_hidden')),
    'not listed',
  );
  await fs.release(fh);
  t.equal(await errnoOf(fs.unlink(hidden)), 'ok', 'the last release unlinks it');
});

t.test('a read after rename-while-open follows the file', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  const data = pattern(300 * KiB, 7);
  store.putBytes('r/a.bin', data);
  const fh = await fs.open('/r/a.bin', O_RDONLY);
  const first = Buffer.alloc(4 * KiB);
  t.equal(await fs.read(fh, first, 0, first.length), first.length, 'read the start');
  await fs.rename('/r/a.bin', '/r/b.bin');
  t.same(await readHandle(fs, fh, 0), data, 'the open handle reads the whole file under its new name');
  await fs.release(fh);
  await fs.rename('/r', '/q');
  const again = await fs.open('/q/b.bin', O_RDONLY);
  const part = Buffer.alloc(4 * KiB);
  t.equal(await fs.read(again, part, 0, part.length), part.length, 'opened in the renamed directory');
  await fs.rename('/q', '/p');
  t.same(await readHandle(fs, again, 0), data, 'and it follows a directory rename too');
  await fs.release(again);
});

t.test(
  'page cache: an open bypasses it while another version is open, or once the file changed',
  async (t) => {
    const store = new MemoryObjectStore();
    const { fs, clock } = await testCore(t, { store });
    store.putBytes('p.bin', pattern(8 * KiB, 4));
    const a = await fs.open('/p.bin', O_RDONLY);
    t.equal(fs.bypassesPageCache(a), false, 'a first open uses the page cache');
    const a2 = await fs.open('/p.bin', O_RDONLY);
    t.equal(fs.bypassesPageCache(a2), false, 'so does another open of the same version');
    store.putBytes('p.bin', pattern(8 * KiB, 5)); // same size: no wait for the kernel's size
    clock.advance(PAST_TTL_MS);
    const b = await fs.open('/p.bin', O_RDONLY);
    t.equal(
      fs.bypassesPageCache(b),
      true,
      'an open of the new version while the old one is open bypasses it',
    );
    for (const fh of [a, a2, b]) await fs.release(fh);
    const c = await fs.open('/p.bin', O_RDONLY);
    t.equal(fs.bypassesPageCache(c), true, 'and so does a later open of a file seen changing');
    await fs.release(c);
    clock.advance(CHANGED_RECENTLY_MS);
    const d = await fs.open('/p.bin', O_RDONLY);
    t.equal(fs.bypassesPageCache(d), false, 'until it has not changed for a minute');
    await fs.release(d);
    store.putBytes('q.bin', 'steady');
    const q = await fs.open('/q.bin', O_RDONLY);
    t.equal(fs.bypassesPageCache(q), false, 'a file never seen changing keeps it');
    await fs.release(q);
    await writeFile(fs, '/w.bin', Buffer.from('written here'));
    t.equal(fs.bypassesPageCache(await fs.open('/w.bin', O_RDONLY)), false, 'a staged file keeps it');
  },
);

t.test('--direct-io: every open of an object bypasses the page cache', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store, flags: { 'direct-io': true } });
  store.putBytes('d.bin', 'x');
  const fh = await fs.open('/d.bin', O_RDONLY);
  t.equal(fs.bypassesPageCache(fh), true);
  await fs.release(fh);
});

t.test('a read open waits out another size the kernel was given for the name', async (t) => {
  const store = new MemoryObjectStore();
  const { fs, meta, clock } = await testCore(t, { store });
  store.putBytes('s.txt', 'the first version, longer');
  t.equal((await fs.getattr('/s.txt')).size, 25, 'the kernel is told 25 bytes');
  store.putBytes('s.txt', 'short');
  // the mount forgets all it knew (as after a directory rename): the next lookup learns 5
  // bytes with nothing to compare, while the kernel may still hold 25 (fstat would say 25)
  meta.invalidateTree('/');
  const opening = fs.open('/s.txt', O_RDONLY);
  for (let i = 0; i < 50 && clock.sleeping === 0; i++) await new Promise((r) => setImmediate(r));
  t.equal(clock.sleeping, 1, 'the open waits');
  clock.advance(KERNEL_ATTR_MS);
  const fh = await opening;
  t.same(await readHandle(fs, fh, 0), Buffer.from('short'), 'then reads the new version');
  await fs.release(fh);
  await fs.release(await fs.open('/s.txt', O_RDONLY)); // (would never end if it waited)
  t.pass('an open that nothing contradicts does not wait');
});

t.test(
  'a read through the page cache that waited for S3 while the mount learnt another version: ESTALE',
  async (t) => {
    // the kernel copies the pages a read brings out up to the size it holds when they come;
    // a getattr meanwhile told it the new version's: the old bytes would be padded or cut
    const store = new MemoryObjectStore();
    const { fs, clock } = await testCore(t, { store });
    for (const [what, size] of [
      ['longer', 20 * KiB],
      ['shorter', 4 * KiB],
    ] as const) {
      const key = `held-${what}.bin`;
      const v1 = pattern(10 * KiB, 7);
      store.putBytes(key, v1);
      const fh = await fs.open(`/${key}`, O_RDONLY);
      t.equal(fs.bypassesPageCache(fh), false, `${what}: the handle reads through the page cache`);
      let release = (): void => undefined;
      const held = new Promise<void>((r) => (release = r));
      const getRange = store.getRange.bind(store);
      store.getRange = async (req) => {
        const body = await getRange(req); // the server answered (the first version)...
        await held; // ...and the answer is on its way
        return body;
      };
      const gets = store.calls['getRange'] ?? 0;
      const buf = Buffer.alloc(READ_BYTES);
      const reading = errnoOf(fs.read(fh, buf, 0, buf.length));
      for (let i = 0; i < 50 && (store.calls['getRange'] ?? 0) === gets; i++)
        await new Promise((r) => setImmediate(r));
      store.putBytes(key, pattern(size, 8));
      clock.advance(PAST_TTL_MS);
      t.equal((await fs.getattr(`/${key}`)).size, size, `${what}: a stat learns the new version`);
      release();
      store.getRange = getRange;
      t.equal(await reading, 'ESTALE', `${what}: the read that waited fails with ESTALE`);
      await fs.release(fh);
    }
  },
);

t.test(
  'a name renamed over or removed here: opens bypass the page cache (an open the kernel began on the old file may come in after)',
  async (t) => {
    // The load test's trace: an open whose path walk found the old file's inode reached
    // the mount after a rename here had replaced the name. It was given the new version
    // through the page cache, and the kernel cut its reads at the old file's size (or
    // padded them to it with zeros): "fstat 2095, read@0 2095 (699 zeros), fstat 1396".
    const store = new MemoryObjectStore();
    const { fs, clock } = await testCore(t, { store });
    for (const [name, n] of [
      ['s4', 2095],
      ['s5', 8129],
    ] as const) {
      store.putBytes(`shared/${name}`, pattern(n, n));
      const before = await fs.open(`/shared/${name}`, O_RDONLY);
      t.equal(fs.bypassesPageCache(before), false, `${name}: an open before: the page cache`);
      await fs.release(before);
    }
    // renamed over here
    await writeFile(fs, '/shared/.tmp-1', pattern(1396, 1));
    await fs.rename('/shared/.tmp-1', '/shared/s4');
    const after = await fs.open('/shared/s4', O_RDONLY);
    t.equal(fs.bypassesPageCache(after), true, 'renamed over: an open after bypasses it');
    t.same(await readHandle(fs, after, 0), pattern(1396, 1), 'and reads the new version whole');
    await fs.release(after);
    // removed here, then a file renamed onto the free name
    await fs.unlink('/shared/s5');
    await writeFile(fs, '/shared/.tmp-2', pattern(14466, 2));
    await fs.rename('/shared/.tmp-2', '/shared/s5');
    const again = await fs.open('/shared/s5', O_RDONLY);
    t.equal(fs.bypassesPageCache(again), true, 'removed, then renamed onto: bypasses it');
    await fs.release(again);
    clock.advance(CHANGED_RECENTLY_MS + KERNEL_ATTR_MS);
    const later = await fs.open('/shared/s4', O_RDONLY);
    t.equal(fs.bypassesPageCache(later), false, 'a minute later: the page cache again');
    await fs.release(later);
    // a file only created here (no file had the name) keeps the page cache
    await writeFile(fs, '/shared/.tmp-3', pattern(10, 3));
    await fs.rename('/shared/.tmp-3', '/shared/fresh');
    const fresh = await fs.open('/shared/fresh', O_RDONLY);
    t.equal(fs.bypassesPageCache(fresh), false, 'renamed onto a free name: the page cache');
    await fs.release(fresh);
  },
);
