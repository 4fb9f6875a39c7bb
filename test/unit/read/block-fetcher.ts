import t from 'tap';
import { randomBytes } from 'node:crypto';
import { BlockCache } from '../../../src/read/block-cache.js';
import { ObjectReader } from '../../../src/read/object-reader.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { StoreError } from '../../../src/s3/errors.js';
import { Semaphore } from '../../../src/util/semaphore.js';

const B = 64 * 1024;

function setup(cacheBytes = 64 * B, requestBytes = 4 * B) {
  const store = new MemoryObjectStore();
  const cache = new BlockCache(cacheBytes);
  const fetcher = testFetcher(store, cache, { blockBytes: B, requestBytes });
  return { store, cache, fetcher };
}

t.test('reads assemble blocks byte-exactly at any offset', async (t) => {
  const { store, fetcher } = setup();
  const data = randomBytes(10 * B + 123);
  const etag = store.putBytes('k', data);
  const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 8 * B);
  for (const [off, len] of [
    [0, 10],
    [B - 1, 2],
    [3 * B + 7, 2 * B + 5],
    [10 * B, 500],
    [data.length - 1, 10],
  ] as const) {
    const buf = Buffer.alloc(len);
    const n = await r.read(buf, off, len);
    t.equal(n, Math.min(len, data.length - off), `count at ${off}`);
    t.ok(buf.subarray(0, n).equals(data.subarray(off, off + n)), `bytes at ${off}`);
  }
});

t.test('concurrent reads of the same block share one GET', async (t) => {
  const { store, fetcher, cache } = setup();
  const data = randomBytes(4 * B);
  const etag = store.putBytes('k', data);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  store.beforeGet = () => gate;
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const readers = Array.from({ length: 5 }, () => new ObjectReader(obj, fetcher, 0));
  const reads = readers.map((r) => {
    const b = Buffer.alloc(100);
    return r.read(b, 10 * 1024, 100).then(() => b);
  });
  await new Promise((r) => setImmediate(r));
  release();
  const bufs = await Promise.all(reads);
  t.equal(store.calls.getRange, 1, 'one GET for five readers');
  t.equal(cache.counters.joined, 5, 'all five joined the one fetch under way');
  for (const b of bufs) t.ok(b.equals(data.subarray(10 * 1024, 10 * 1024 + 100)));
});

t.test('sequential reads prefetch with multi-block requests', async (t) => {
  const { store, fetcher } = setup(256 * B, 4 * B);
  const data = randomBytes(64 * B);
  const etag = store.putBytes('k', data);
  const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 32 * B);
  const out = Buffer.alloc(data.length);
  const step = 32 * 1024;
  for (let off = 0; off < data.length; off += step) await r.read(out.subarray(off), off, step);
  t.ok(out.equals(data), 'whole object byte-exact');
  // 64 blocks in requests of up to 4: 16 GETs at best; a few small ones while the window opens
  t.ok((store.calls.getRange ?? 0) <= 24, `few GETs (${store.calls.getRange}) for 64 blocks`);
});

t.test('a changed object fails the read instead of mixing versions', async (t) => {
  const { store, fetcher } = setup();
  // 40 blocks: a random read fetches its aligned 1 MiB group (16 blocks of 64 KiB), so
  // the second read, in another group, has to go to S3
  const v1 = randomBytes(40 * B);
  const etag = store.putBytes('k', v1);
  const r = new ObjectReader({ key: 'k', size: v1.length, etag, version: etag }, fetcher, 0);
  await r.read(Buffer.alloc(10), 0, 10);
  store.putBytes('k', randomBytes(40 * B));
  await t.rejects(r.read(Buffer.alloc(10), 35 * B, 10), { name: 'StoreError', kind: 'PreconditionFailed' });
  const again = Buffer.alloc(10);
  await r.read(again, 5, 10);
  t.ok(
    again.equals(v1.subarray(5, 15)),
    'blocks cached from the version opened are still served, never mixed',
  );
});

t.test(
  'a block whose fetch failed on the way is fetched once more for the read; final errors are not',
  async (t) => {
    const { store, fetcher } = setup(64 * B, 16 * B); // a random read's 1 MiB group is one GET
    const data = randomBytes(40 * B);
    const etag = store.putBytes('k', data);
    const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 0);
    let failures = 1;
    store.beforeGet = async () => {
      if (failures-- > 0) throw new StoreError('Unreachable', 'connection reset', { op: 'GetObject' });
    };
    const b = Buffer.alloc(10);
    t.equal(await r.read(b, 3, 10), 10, "a transient failure is not the read's error");
    t.ok(b.equals(data.subarray(3, 13)));
    t.equal(store.calls.getRange, 2, 'one more GET');
    store.beforeGet = async () => {
      throw new StoreError('AccessDenied', 'access denied', { op: 'GetObject' });
    };
    const before = store.calls.getRange ?? 0;
    await t.rejects(r.read(Buffer.alloc(10), 35 * B, 10), { name: 'StoreError', kind: 'AccessDenied' });
    t.equal(store.calls.getRange, before + 1, 'a final error is not tried again');
  },
);

t.test('a failed GET reaches the reader and is not cached', async (t) => {
  const { store, fetcher } = setup();
  const data = randomBytes(2 * B);
  const etag = store.putBytes('k', data);
  let fail = true;
  store.beforeGet = async () => {
    if (fail) throw new Error('boom');
  };
  const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 0);
  await t.rejects(r.read(Buffer.alloc(10), 0, 10), /boom/);
  fail = false;
  const b = Buffer.alloc(10);
  t.equal(await r.read(b, 0, 10), 10);
  t.ok(b.equals(data.subarray(0, 10)), 'retry succeeds');
});

t.test('a read has its own deadline: GETs that never answer fail it with a Timeout', async (t) => {
  const store = new MemoryObjectStore();
  const cache = new BlockCache(64 * B);
  const fetcher = testFetcher(store, cache, {
    blockBytes: B,
    // one request slot: the second read's GET waits behind the first's, which never ends
    requests: new Semaphore(1),
    readDeadlineMs: 200,
  });
  const data = randomBytes(8 * B);
  const etag = store.putBytes('k', data);
  store.beforeGet = () => new Promise(() => undefined); // a stalled server
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const t0 = Date.now();
  const [a, b] = await Promise.allSettled([
    new ObjectReader(obj, fetcher, 0).read(Buffer.alloc(10), 0, 10),
    new ObjectReader(obj, fetcher, 0).read(Buffer.alloc(10), 6 * B, 10),
  ]);
  const ms = Date.now() - t0;
  for (const r of [a, b])
    t.match(
      r,
      { status: 'rejected', reason: { name: 'StoreError', kind: 'Timeout' } },
      'fails with a Timeout',
    );
  t.ok(ms >= 190 && ms < 2000, `at its deadline, also the read queued behind (${ms} ms)`);
});

t.test(
  "a read right after one of its handle's reads timed out fails at once (the kernel's retry)",
  async (t) => {
    const store = new MemoryObjectStore();
    const cache = new BlockCache(64 * B);
    const fetcher = testFetcher(store, cache, { blockBytes: B, readDeadlineMs: 200 });
    const data = randomBytes(8 * B);
    const etag = store.putBytes('k', data);
    let stalled = true;
    store.beforeGet = () => (stalled ? new Promise(() => undefined) : Promise.resolve());
    const obj = { key: 'k', size: data.length, etag, version: etag };
    const r = new ObjectReader(obj, fetcher, 0);
    const timeout = { name: 'StoreError', kind: 'Timeout' };
    await t.rejects(r.read(Buffer.alloc(10), 0, 10), timeout, 'the first read waits its deadline');
    const t0 = Date.now();
    await t.rejects(r.read(Buffer.alloc(10), 4 * B, 10), timeout, 'the retry right after');
    t.ok(Date.now() - t0 < 150, 'fails at once');
    stalled = false; // the stalled GETs stay stalled: another object, another handle
    const etag2 = store.putBytes('k2', data);
    const other = new ObjectReader({ key: 'k2', size: data.length, etag: etag2, version: etag2 }, fetcher, 0);
    const buf = Buffer.alloc(10);
    await other.read(buf, 6 * B, 10);
    t.ok(buf.equals(data.subarray(6 * B, 6 * B + 10)), 'another handle is not affected');
  },
);
