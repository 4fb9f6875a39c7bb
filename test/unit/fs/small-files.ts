// The small-file look-ahead in the core (in-memory store, no FUSE): a reader going through
// a listed directory's small files gets them fetched ahead, each once, within the budget,
// and an object replaced in S3 is never served from a look-ahead of its old version.
import t from 'tap';
import { pattern, readFile, testCore } from '../../fixtures/core.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { deferred } from '../../../src/util/deferred.js';
import { constants } from 'node:fs';

const KiB = 1024;
const N = 40;
const name = (i: number) => `f${String(i).padStart(3, '0')}`;

function smallFiles(store: MemoryObjectStore, n = N): Buffer[] {
  const data: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    data.push(pattern(4 * KiB, i + 1));
    store.putBytes(`d/${name(i)}`, data[i] as Buffer);
  }
  return data;
}

const gets = (store: MemoryObjectStore) => store.calls.getRange ?? 0;
const tick = () => new Promise((r) => setImmediate(r));

t.test(
  'cat dir/*: every small file read back right, each fetched once, most ahead of the reader',
  async (t) => {
    const store = new MemoryObjectStore();
    const data = smallFiles(store);
    store.putBytes('d/zbig', pattern(300 * KiB, 99)); // not a small file: never fetched ahead
    const core = await testCore(t, { store });
    await core.fs.readdir('/d');
    for (let i = 0; i < N; i++)
      t.same(await readFile(core.fs, `/d/${name(i)}`), data[i], `${name(i)}'s bytes`);
    t.equal(gets(store), N, 'one GET per file: none twice');
    const la = core.stats().lookahead as { fetches: number; failures: number };
    t.ok(la.fetches >= N - 3, `the look-ahead fetched the files after the first two (${la.fetches})`);
    t.equal(la.failures, 0);
    t.ok(core.cache.cachedBytes <= core.memory.cacheBytes, 'within the block cache');
  },
);

t.test('fetched ahead: never more than the window, never more GETs at once than allowed', async (t) => {
  const store = new MemoryObjectStore();
  smallFiles(store);
  const core = await testCore(t, { store, flags: { 'small-file-lookahead': '4' } });
  const gate = deferred<undefined>();
  let waiting = 0;
  let most = 0;
  store.beforeGet = async () => {
    most = Math.max(most, ++waiting);
    await gate.promise;
    waiting--;
  };
  await core.fs.readdir('/d');
  const a = await core.fs.open(`/d/${name(0)}`, constants.O_RDONLY);
  const b = await core.fs.open(`/d/${name(1)}`, constants.O_RDONLY);
  await tick();
  t.equal(gets(store), 4, 'the second open in order: the next 4 files (f002-f005)');
  gate.resolve(undefined);
  for (let k = 0; k < 5; k++) await tick();
  t.equal(gets(store), 4, 'and no more while the reader stays at f001');
  t.ok(most <= 4, 'at most 4 in flight');
  await core.fs.release(a);
  await core.fs.release(b);

  // the default window is capped by a quarter of the cache: 4 MiB / 4 / 64 KiB blocks = 16 files
  const store2 = new MemoryObjectStore();
  smallFiles(store2);
  const core2 = await testCore(t, { store: store2 });
  await core2.fs.readdir('/d');
  await readFile(core2.fs, `/d/${name(0)}`);
  await readFile(core2.fs, `/d/${name(1)}`);
  for (let k = 0; k < 20; k++) await tick();
  t.equal(gets(store2), 2 + 16, 'files fetched ahead stay within a quarter of the cache (16 blocks here)');
});

t.test(
  'an object replaced after the listing, before its look-ahead: the new bytes, never the old',
  async (t) => {
    const store = new MemoryObjectStore();
    const data = smallFiles(store);
    const core = await testCore(t, { store });
    await core.fs.readdir('/d');
    const fresh = pattern(4 * KiB, 1000);
    store.putBytes(`d/${name(10)}`, fresh); // another client, same size
    for (let i = 0; i < N; i++) {
      const got = await readFile(core.fs, `/d/${name(i)}`);
      t.same(got, i === 10 ? fresh : data[i], `${name(i)}`);
    }
    t.ok((core.stats().lookahead as { failures: number }).failures >= 1, "the look-ahead's If-Match failed");
  },
);

t.test(
  'replaced after its look-ahead: served at most until the listing expires, then the new bytes',
  async (t) => {
    const store = new MemoryObjectStore();
    const data = smallFiles(store);
    const core = await testCore(t, { store });
    await core.fs.readdir('/d');
    await readFile(core.fs, `/d/${name(0)}`);
    await readFile(core.fs, `/d/${name(1)}`);
    for (let k = 0; k < 20; k++) await tick();
    const before = gets(store);
    t.ok(before > 5, 'f005 was fetched ahead');
    const fresh = pattern(4 * KiB, 2000);
    store.putBytes(`d/${name(5)}`, fresh);
    const within = await readFile(core.fs, `/d/${name(5)}`);
    t.ok(
      within.equals(data[5] as Buffer) || within.equals(fresh),
      'within --metadata-ttl: the version listed or the new one, whole',
    );
    core.clock.advance(31_000); // past --metadata-ttl (30 s)
    await core.fs.readdir('/d');
    t.same(await readFile(core.fs, `/d/${name(5)}`), fresh, 'after it: the new bytes');
  },
);

t.test('opened by name without a listing, or with the option off: nothing fetched ahead', async (t) => {
  const store = new MemoryObjectStore();
  const data = smallFiles(store, 10);
  const core = await testCore(t, { store });
  for (let i = 0; i < 10; i++) t.same(await readFile(core.fs, `/d/${name(i)}`), data[i]);
  t.equal(gets(store), 10, 'not listed: one GET per file read');

  const store2 = new MemoryObjectStore();
  smallFiles(store2, 10);
  const off = await testCore(t, { store: store2, flags: { 'small-file-lookahead': '0' } });
  await off.fs.readdir('/d');
  for (let i = 0; i < 3; i++) await readFile(off.fs, `/d/${name(i)}`);
  for (let k = 0; k < 5; k++) await tick();
  t.equal(gets(store2), 3, 'off: only what is read');
  t.equal(off.stats().lookahead, undefined);
});
