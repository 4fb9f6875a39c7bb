// The block cache in arena mode, against the JavaScript model of the native table in
// native/fuse-native/s3m-reads.h (test/fixtures/native/read-model.ts, itself checked
// against the C by test/unit/native/reads.ts; the FUSE tests cover it end to end).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { BlockCache } from '../../../src/read/block-cache.js';
import { FastReads } from '../../../src/read/fast-reads.js';
import { ObjectReader } from '../../../src/read/object-reader.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { ReadModel } from '../../fixtures/native/read-model.js';

const B = 64 * 1024;

function setup(slots: number) {
  const store = new MemoryObjectStore();
  const port = new ReadModel();
  const cache = new BlockCache(slots * B, B, port);
  const fetcher = testFetcher(store, cache, { blockBytes: B });
  return { store, port, cache, fetcher, fast: new FastReads(port, cache) };
}

t.test('fetched blocks land in arena slots that FUSE threads can serve', async (t) => {
  const { store, port, fetcher, fast } = setup(16);
  const data = randomBytes(5 * B + 100);
  const etag = store.putBytes('k', data);
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const r = new ObjectReader(obj, fetcher, 0);
  r.attachFast(fast, 7);
  t.equal(port.serve(7, 0, 100), undefined, 'nothing cached yet: the read goes to JS');
  const buf = Buffer.alloc(data.length);
  t.equal(await r.read(buf, 0, data.length), data.length, 'JS read');
  t.ok(buf.equals(data), 'JS read is byte-exact');
  for (const [off, len] of [
    [0, 10],
    [B - 3, 9],
    [2 * B, 3 * B + 100],
    [5 * B + 50, 4096],
    [data.length, 10],
  ] as const) {
    const got = port.serve(7, off, len);
    t.ok(got?.equals(data.subarray(off, off + len)), `served at ${off}`);
  }
  r.close();
});

t.test('an evicted block is unmapped before its slot holds another', async (t) => {
  const { store, port, fetcher, fast } = setup(4);
  const objs = ['a', 'b'].map((k) => {
    const data = randomBytes(6 * B);
    const etag = store.putBytes(k, data);
    return { data, obj: { key: k, size: data.length, etag, version: etag } };
  });
  const readers = objs.map((o, i) => {
    const r = new ObjectReader(o.obj, fetcher, 0);
    r.attachFast(fast, 10 + i);
    return r;
  });
  // interleaved random-ish reads: far more blocks than the 4 slots
  for (const i of [0, 5, 2, 3, 1, 4, 5, 0, 2]) {
    for (const [k, o] of objs.entries()) {
      const buf = Buffer.alloc(B);
      await (readers[k] as ObjectReader).read(buf, i * B, B);
      t.ok(buf.equals(o.data.subarray(i * B, (i + 1) * B)), `JS read ${o.obj.key}/${i}`);
    }
  }
  t.ok(port.map_.size <= 4, `at most 4 blocks mapped (${port.map_.size})`);
  const slots = new Set(port.map_.values());
  t.equal(slots.size, port.map_.size, 'no slot is mapped twice');
  // every mapping still holds the bytes of its block
  for (const [i, o] of objs.entries()) {
    const fh = 10 + i;
    for (let b = 0; b < 6; b++) {
      const got = port.serve(fh, b * B, B);
      if (got)
        t.ok(got.equals(o.data.subarray(b * B, (b + 1) * B)), `mapped block ${o.obj.key}/${b} is right`);
    }
  }
  for (const r of readers) r.close();
});

t.test('a file is closed in the table once no handle reads it and no block of it is cached', async (t) => {
  const { store, port, fetcher, fast } = setup(4);
  const mk = (k: string) => {
    const data = randomBytes(2 * B);
    const etag = store.putBytes(k, data);
    return { key: k, size: data.length, etag, version: etag };
  };
  const a = mk('a');
  const r = new ObjectReader(a, fetcher, 0);
  r.attachFast(fast, 1);
  await r.read(Buffer.alloc(2 * B), 0, 2 * B);
  r.close();
  t.same(port.closed, [], 'still open: its blocks are cached for the next open');
  const r2 = new ObjectReader(a, fetcher, 0);
  r2.attachFast(fast, 2);
  t.ok(port.serve(2, 0, B), 'a new handle is served from the cached blocks at once');
  r2.close();
  // fill the cache with another object: a's blocks go, and with them its table entry
  const b = mk('b');
  const c = mk('c');
  for (const o of [b, c]) await new ObjectReader(o, fetcher, 0).read(Buffer.alloc(2 * B), 0, 2 * B);
  t.equal(port.closed.length, 1, 'a closed once its last block was evicted');
});

t.test('FUSE threads serving reads wake the reader to keep prefetching', async (t) => {
  const { store, port, fetcher, fast } = setup(64);
  const data = randomBytes(40 * B);
  const etag = store.putBytes('k', data);
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const r = new ObjectReader(obj, fetcher, 8 * B);
  r.attachFast(fast, 3);
  // a sequential start in JS grows the window and prefetches
  let pos = 0;
  for (; pos < 4 * B; pos += B) await r.read(Buffer.alloc(B), pos, B);
  await new Promise((res) => setTimeout(res, 20));
  // then FUSE threads serve what is cached; each wake-up moves the prefetch on
  let served = 0;
  for (let spins = 0; pos < data.length && spins < 500; spins++) {
    const got = port.serve(3, pos, B);
    if (got) {
      if (!t.ok(got.equals(data.subarray(pos, pos + B)), `served at block ${pos / B}`)) pos = data.length;
      pos += B;
      served++;
    }
    await new Promise((res) => setTimeout(res, 2));
  }
  t.equal(pos, data.length, 'the reader reached the end without a read going to JS');
  t.ok(served >= 30, `FUSE threads served ${served} reads`);
  r.close();
});

t.test('a second allocation for a block being filled never takes over its slot', async (t) => {
  // Two fills of one key each holding an arena slot: the first to finish freed the slot
  // `filling` named, the other's, while that fill still wrote into it; the slot then went
  // to another block, mapped for FUSE threads, whose bytes the late fill overwrote.
  const { cache, port } = setup(4);
  const id = { key: 'k', version: 'v1', index: 0 };
  cache.track(id, new Promise<Buffer>(() => undefined), 100); // the first fill, under way
  const first = cache.allocate(id, 100);
  const second = cache.allocate(id, 100);
  t.not(second.buffer, first.buffer, 'the second fill gets ordinary memory');
  first.fill(1);
  second.fill(2);
  cache.track(id, Promise.resolve(second), 100);
  await new Promise((r) => setImmediate(r));
  // the slot of `first` is still the key's, not free: three others are
  const others = [1, 2, 3].map((i) => cache.allocate({ key: `o${i}`, version: 'v', index: 0 }, 100));
  for (const o of others)
    t.not(o.byteOffset, first.byteOffset, 'another block never gets the slot of a fill under way');
  t.ok(
    first.every((b) => b === 1),
    'the fill under way keeps its bytes',
  );
  t.equal(port.serve(1, 0, 1), undefined, 'nothing served: the block cached is in ordinary memory');
});
