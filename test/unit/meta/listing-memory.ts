import t from 'tap';
import { listedEntryBytes, planMetadata } from '../../../src/meta/listing-memory.js';
import { MetadataCache } from '../../../src/meta/metadata.js';
import { nullLogger } from '../../../src/log/logger.js';
import { ManualClock } from '../../../src/util/clock.js';
import { testCore } from '../../fixtures/core.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const name = (i: number) => `e-${String(i).padStart(6, '0')}`;

function bigStore(n: number): MemoryObjectStore {
  const store = new MemoryObjectStore();
  for (let i = 0; i < n; i++) store.putBytes(`big/${name(i)}`, i % 7 === 0 ? 'x'.repeat(i % 50) : '');
  return store;
}

function cache(store: MemoryObjectStore, maxBytes: number) {
  return new MetadataCache({
    store,
    prefix: '',
    clock: new ManualClock(1_000_000),
    logger: nullLogger(),
    ttlMs: 30_000,
    negativeTtlMs: 5_000,
    maxBytes,
  });
}

t.test('the metadata share is split between listings, lookups and the native table', async (t) => {
  const plan = planMetadata(64 * MiB);
  t.equal(plan.listingBytes, 28 * MiB, 'listings: 7/16');
  t.equal(plan.statBytes, 2 * MiB);
  t.equal(plan.negativeBytes, 2 * MiB);
  t.ok(
    plan.nativeAttrEntries >= 100_000,
    `native table: ${plan.nativeAttrEntries} entries (a 100k directory)`,
  );
  t.ok(plan.listingBytes + plan.statBytes + plan.negativeBytes <= 32 * MiB, 'JavaScript: half');
  t.equal(planMetadata(0).nativeAttrEntries, 1, 'at least one native entry');
});

t.test('a listing within its budget is kept and charged; lookups answer from it', async (t) => {
  const store = bigStore(2000);
  const meta = cache(store, 4 * MiB);
  const entries = await meta.list('/big');
  t.equal(entries?.size, 2000);
  let charged = 0;
  for (let i = 0; i < 2000; i++) charged += listedEntryBytes(name(i));
  t.equal(meta.listedBytes, charged, 'charged what its entries cost');
  const lists = store.calls.list ?? 0;
  t.match(await meta.lookup(`/big/${name(1234)}`), { kind: 'file' });
  await meta.list('/big');
  t.equal((store.calls.list ?? 0) - lists, 0, 'lookups and a second listing from memory');
  t.equal(store.calls.head ?? 0, 0, 'no HEAD');
  t.equal(meta.counters.uncachedListings, 0);
});

t.test('a directory larger than the budget still lists, exactly, and is not kept', async (t) => {
  const n = 20_000;
  const store = bigStore(n);
  // a name a later page turns into a directory, across a page boundary ("big/e-000999"
  // ends page 1; "big/e-000999/x" makes it a directory on page 2)
  store.putBytes(`big/${name(999)}/x`, 'y');
  const meta = cache(store, 256 * KiB); // 112 KiB of listings: about 500 entries
  const seen: string[] = [];
  const kinds = new Map<string, string>();
  const got = await meta.list('/big', (entries) => {
    for (const [n, node] of entries) {
      seen.push(n);
      kinds.set(n, node.kind);
    }
  });
  t.equal(got, undefined, 'not kept: no map of entries');
  t.equal(seen.length, n, 'every name');
  t.equal(new Set(seen).size, n, 'each once');
  t.same(
    [...seen].sort(),
    Array.from({ length: n }, (_, i) => name(i)),
    'exactly the names in S3',
  );
  t.equal(kinds.get(name(999)), 'dir', 'the directory shadows the file of its name');
  t.equal(kinds.get(name(998)), 'file');
  t.ok(meta.listedBytes <= planMetadata(256 * KiB).listingBytes, `charged ${meta.listedBytes} bytes`);
  t.equal(meta.counters.uncachedListings, 1);
  const lists = store.calls.list ?? 0;
  const again: string[] = [];
  await meta.list('/big', (entries) => again.push(...entries.map(([n]) => n)));
  t.equal(again.length, n, 'a second listing is complete too');
  t.ok((store.calls.list ?? 0) - lists >= 20, 'and asks S3 again');
  t.match(await meta.lookup(`/big/${name(12_345)}`), { kind: 'file' }, 'lookups by name still work');
});

t.test('two readdirs of a directory too large to keep at once both get every name', async (t) => {
  const store = bigStore(3000);
  const meta = cache(store, 128 * KiB);
  const a: string[] = [];
  const b: string[] = [];
  await Promise.all([
    meta.list('/big', (e) => a.push(...e.map(([n]) => n))),
    meta.list('/big', (e) => b.push(...e.map(([n]) => n))),
  ]);
  t.equal(a.length, 3000);
  t.equal(b.length, 3000);
  t.equal(new Set(b).size, 3000);
});

t.test('the core charges listings to --memory-limit: 20,000 names under 64M', async (t) => {
  const n = 20_000;
  const core = await testCore(t, { store: bigStore(n) });
  t.equal(core.memory.metadataBytes, 8 * MiB, 'an eighth of the 64M limit');
  const entries = await core.fs.readdir('/big');
  const names = entries.map((e) => e.name).filter((x) => x !== '.' && x !== '..');
  t.equal(names.length, n, 'readdir: every name');
  t.same(
    names.sort(),
    Array.from({ length: n }, (_, i) => name(i)),
    'exactly',
  );
  const sizes = new Map(entries.map((e) => [e.name, e.attr.size]));
  t.equal(sizes.get(name(49)), 49, 'sizes from the listing');
  t.equal(sizes.get(name(50)), 0);
  t.ok(
    core.meta.listedBytes <= planMetadata(core.memory.metadataBytes).listingBytes,
    `listings charged ${core.meta.listedBytes} bytes, within their part of the budget`,
  );
  t.equal(core.meta.counters.uncachedListings, 1, '20,000 names exceed 3.5 MiB of listings: streamed');
  const small = new MemoryObjectStore();
  for (let i = 0; i < 5000; i++) small.putBytes(`d/${name(i)}`, '');
  const core2 = await testCore(t, { store: small });
  t.equal((await core2.fs.readdir('/d')).length, 5002);
  t.equal(core2.meta.counters.uncachedListings, 0, '5,000 names fit: kept');
  t.ok(core2.meta.listedBytes > 5000 * 200, `and charged (${core2.meta.listedBytes} bytes)`);
});
