// Bytes fetched from S3 stay bounded: readers of one object at once share its GETs
// (fan-in), random reads over an object far larger than the cache fetch their own block
// rather than a group around it once the group goes unread, random reads over one that
// fits keep the group, and with a disk cache an object is fetched at most once. Counts
// are the fetcher's downloaded bytes; bytes read are compared with the object.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockCache } from '../../../src/read/block-cache.js';
import { DiskCache } from '../../../src/read/disk-cache.js';
import { FastReads } from '../../../src/read/fast-reads.js';
import { ObjectReader } from '../../../src/read/object-reader.js';
import { nullLogger } from '../../../src/log/logger.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { ReadModel } from '../../fixtures/native/read-model.js';

const B = 64 * 1024;
const MiB = 1024 * 1024;

function setup(cacheBlocks: number, o: { disk?: DiskCache; port?: ReadModel } = {}) {
  const store = new MemoryObjectStore();
  const cache = new BlockCache(cacheBlocks * B, o.port ? B : 0, o.port);
  const fetcher = testFetcher(store, cache, {
    requests: new Semaphore(8),
    getSlots: new Semaphore(8),
    blockBytes: B,
    requestBytes: 8 * MiB,
    ...(o.disk ? { disk: o.disk } : {}),
  });
  return { store, cache, fetcher };
}

/** a fixed sequence of offsets (xorshift): the same on every run */
function offsets(n: number, size: number, seed = 7): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return Math.floor(((x >>> 0) / 2 ** 32) * (size / 4096)) * 4096;
  });
}

async function randomReads(t: Test, r: ObjectReader, data: Buffer, offs: number[]): Promise<void> {
  let wrong = 0;
  for (const off of offs) {
    const buf = Buffer.alloc(4096);
    await r.read(buf, off, 4096);
    if (!buf.equals(data.subarray(off, off + 4096))) wrong++;
  }
  t.equal(wrong, 0, `${offs.length} random reads byte-exact`);
}

t.test('8 readers of one object at once: its bytes are fetched once', async (t) => {
  // the cache holds a quarter of the object: the readers must share, not each fetch
  const { store, fetcher, cache } = setup(64);
  const data = randomBytes(256 * B);
  const etag = store.putBytes('k', data);
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const step = 128 * 1024;
  const outs = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const r = new ObjectReader(obj, fetcher, 16 * B);
      const out = Buffer.alloc(data.length);
      for (let off = 0; off < data.length; off += step) await r.read(out.subarray(off), off, step);
      r.close();
      return out;
    }),
  );
  t.ok(
    outs.every((o) => o.equals(data)),
    'every reader read the object byte-exact',
  );
  t.ok(
    fetcher.counters.bytes <= 1.1 * data.length,
    `fetched ${fetcher.counters.bytes} bytes for a ${data.length}-byte object`,
  );
  t.ok(cache.counters.joined > 0, 'readers joined fetches under way');
});

t.test('random reads over an object 16x the cache: a miss fetches its own block, not a group', async (t) => {
  const { store, fetcher, cache } = setup(32);
  const data = randomBytes(512 * B);
  const etag = store.putBytes('k', data);
  const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 0);
  const offs = offsets(1200, data.length);
  await randomReads(t, r, data, offs.slice(0, 16));
  // the cache holds 1/16 of the object: that share is expected read, so one block from the start
  t.ok(fetcher.counters.bytes <= 16 * 2 * B, `first 16 misses: ${fetcher.counters.bytes / B} blocks`);
  await randomReads(t, r, data, offs.slice(16, 400));
  t.equal(fetcher.randomGroup.bytes, B, 'the group is one block');
  const used = fetcher.randomGroup.usedFraction;
  t.ok(used === undefined || used < 0.5, `most blocks fetched around (probes) went unread: ${used}`);
  const before = { bytes: fetcher.counters.bytes, gets: fetcher.counters.requests };
  await randomReads(t, r, data, offs.slice(400));
  const bytes = fetcher.counters.bytes - before.bytes;
  const gets = fetcher.counters.requests - before.gets;
  // a 16-block group per miss (the start) would be 16 B a GET; one block plus a probe of two
  // every PROBE_EVERY_MISSES misses is under 1.1 B
  t.ok(bytes <= gets * 1.25 * B, `then ${bytes / gets / 1024} KiB per GET (${gets} GETs)`);
  t.ok(bytes <= 800 * B, `${bytes / MiB} MiB for 800 reads of 4 KiB`);
  t.ok(cache.counters.aheadWasted > 0, 'the cache counted blocks evicted unread');
});

t.test('random reads over an object that fits in the cache keep fetching groups', async (t) => {
  const { store, fetcher } = setup(256);
  const data = randomBytes(64 * B);
  const etag = store.putBytes('k', data);
  const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 0);
  await randomReads(t, r, data, offsets(400, data.length));
  t.ok(fetcher.randomGroup.bytes >= MiB, `group ${fetcher.randomGroup.bytes / 1024} KiB`);
  t.ok(fetcher.counters.bytes <= data.length, 'every block fetched at most once');
  t.ok(fetcher.counters.requests <= 4, `${fetcher.counters.requests} GETs of groups of 1 MiB or more`);
});

t.test('with a disk cache, random reads over an object 8x the memory cache fetch it once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-fetchbytes-'));
  const disk = new DiskCache({
    dir,
    maxBytes: 64 * MiB,
    namespace: 'ep\nb',
    blockBytes: B,
    logger: nullLogger(),
  });
  await disk.init();
  t.teardown(async () => {
    await disk.settle(5000); // its writes go on in the background: the directory goes after them
    await rm(dir, { recursive: true, force: true });
  });
  const { store, fetcher } = setup(16, { disk });
  const data = randomBytes(128 * B);
  const etag = store.putBytes('k', data);
  const r = new ObjectReader({ key: 'k', size: data.length, etag, version: etag }, fetcher, 0);
  await randomReads(t, r, data, offsets(1500, data.length));
  t.ok(
    fetcher.counters.bytes <= data.length,
    `${fetcher.counters.bytes} bytes fetched for a ${data.length}-byte object`,
  );
  t.ok(disk.stats().hits > 0, 'blocks came back from disk');
});

t.test('a block fetched ahead and read by a FUSE thread counts as used when evicted', async (t) => {
  const port = new ReadModel();
  const { store, fetcher, cache } = setup(4, { port });
  const fast = new FastReads(port, cache);
  const data = randomBytes(64 * B);
  const etag = store.putBytes('k', data);
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const r = new ObjectReader(obj, fetcher, 0);
  r.attachFast(fast, 3);
  // a random read's group: its block (8) and three fetched ahead
  fetcher.ensure(obj, 8, 11, false, { ahead: (i) => i !== 8 });
  await fetcher.block(obj, 8);
  await fetcher.block(obj, 11);
  t.ok(port.serve(3, 9 * B, 4096)?.equals(data.subarray(9 * B, 9 * B + 4096)), 'block 9 served in C');
  // evict them all (4 slots): four other blocks
  for (let i = 20; i < 24; i++) await fetcher.block(obj, i);
  t.equal(cache.counters.aheadUsed, 1, 'block 9: read (by the FUSE thread)');
  t.equal(cache.counters.aheadWasted, 2, 'blocks 10 and 11: evicted unread');
  r.close();
});
