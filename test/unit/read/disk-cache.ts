// The persistent block cache (--cache-dir): blocks survive a new instance (a remount), are
// found only for the same object version, damaged files are dropped, the size limit holds,
// and a fetcher over it serves a second "mount" without S3.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockCache } from '../../../src/read/block-cache.js';
import { BlockFetcher } from '../../../src/read/block-fetcher.js';
import { DiskCache, HEADER_BYTES, type DiskBlockId } from '../../../src/read/disk-cache.js';
import { DiskMap } from '../../../src/read/disk-map.js';
import { RANDOM_READ_GROUP_START_BYTES } from '../../../src/read/random-group.js';
import { FastReads } from '../../../src/read/fast-reads.js';
import { ObjectReader } from '../../../src/read/object-reader.js';
import { nullLogger } from '../../../src/log/logger.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { eventually } from '../../fixtures/helpers.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { ReadModel } from '../../fixtures/native/read-model.js';

const B = 64 * 1024;

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-diskcache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function diskCache(dir: string, maxBytes = 64 * B, namespace = 'ep\nbucket'): Promise<DiskCache> {
  const c = new DiskCache({ dir, maxBytes, namespace, blockBytes: B, logger: nullLogger() });
  await c.init();
  return c;
}

/** a fetcher over `disk` with this file's request sizes (B-byte blocks, 4 per GET) */
function fetcherOver(o: {
  store: MemoryObjectStore;
  cache: BlockCache;
  disk: DiskCache;
  diskMap?: DiskMap;
  getSlots?: number;
  prefetchBudgetBytes: number;
}): BlockFetcher {
  return testFetcher(o.store, o.cache, {
    getSlots: new Semaphore(o.getSlots ?? 4),
    blockBytes: B,
    prefetchBudgetBytes: o.prefetchBudgetBytes,
    disk: o.disk,
    ...(o.diskMap ? { diskMap: o.diskMap } : {}),
  });
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(dir, 'v1'))) {
    if (d.startsWith('.')) continue;
    for (const n of await readdir(join(dir, 'v1', d))) out.push(join(dir, 'v1', d, n));
  }
  return out;
}

async function written(c: DiskCache, n: number): Promise<void> {
  if (!(await eventually(() => c.stats().writes >= n, 5000, 10))) throw new Error('blocks not written');
}

const id = (index: number, etag = '"e1"', size = 3 * B + 100): DiskBlockId => ({
  key: 'a/k',
  etag,
  size,
  index,
});

t.test('a stored block is read back by a new instance; another version or bucket misses', async (t) => {
  const dir = await tempDir(t);
  const c1 = await diskCache(dir);
  const data = randomBytes(B);
  c1.write(id(1), data);
  await written(c1, 1);
  const st = await stat((await files(dir))[0] as string);
  t.equal(st.mode & 0o777, 0o600, 'block files are 0600');
  t.equal((await stat(join(dir, 'v1'))).mode & 0o777, 0o700, 'the cache directory is 0700');

  const c2 = await diskCache(dir);
  t.equal(c2.stats().usedBytes, HEADER_BYTES + B, 'a new instance measures what is there');
  const got = await c2.read(id(1));
  t.ok(got?.equals(data), 'same bytes after "remount"');
  t.equal(await c2.read(id(1, '"e2"')), undefined, 'a new ETag (object replaced) never finds the old block');
  t.equal(await c2.read(id(2)), undefined, 'another block misses');
  const other = await diskCache(dir, 64 * B, 'ep\nother-bucket');
  t.equal(await other.read(id(1)), undefined, 'the same key in another bucket misses');
  t.same([c2.stats().hits, c2.stats().misses], [1, 2]);
});

t.test(
  'blocks that find the write queue full are stored once it has room, if their bytes remain; settle() waits for them',
  async (t) => {
    const dir = await tempDir(t);
    const MB = 1024 * 1024;
    const c = new DiskCache({
      dir,
      maxBytes: 256 * MB,
      namespace: 'ep\nbucket',
      blockBytes: MB,
      logger: nullLogger(),
    });
    await c.init();
    const big = (index: number): DiskBlockId => ({ key: 'k', etag: '"e1"', size: 100 * MB, index });
    const blocks = Array.from({ length: 80 }, () => randomBytes(MB));
    // the queue holds 64 MiB: blocks 64-79 are owed; of those, the odd ones' bytes are gone by then
    blocks.forEach((data, i) => c.write(big(i), data, () => (i % 2 === 0 ? data : undefined)));
    c.write(big(90), randomBytes(MB)); // no way to get it again: not cached
    await c.settle(10_000);
    t.equal(
      c.stats().writes,
      72,
      'settle() returns once the queued and the owed blocks with bytes are written',
    );
    t.equal(
      c.stats().skipped,
      9,
      'owed blocks whose bytes were gone, and the one without a source, are counted',
    );
    t.ok((await c.read(big(64)))?.equals(blocks[64] as Buffer), 'an owed block reads back exactly');
    t.equal(await c.read(big(65)), undefined, 'an owed block whose bytes were gone is not on disk');
    t.equal(await c.read(big(90)), undefined);
  },
);

t.test('room() holds a prefetch while blocks are owed, until the queue is half empty', async (t) => {
  const dir = await tempDir(t);
  const c = new DiskCache({
    dir,
    maxBytes: 64 * B,
    namespace: 'ep\nbucket',
    blockBytes: B,
    logger: nullLogger(),
    writeQueueBytes: 8 * B,
  });
  await c.init();
  await c.room();
  t.equal(c.stats().paced, 0, 'a writer keeping up holds nothing');
  const blocks = Array.from({ length: 12 }, () => randomBytes(B));
  const big = (index: number): DiskBlockId => ({ key: 'k', etag: '"e1"', size: 12 * B, index });
  blocks.forEach((data, i) => c.write(big(i), data, () => data)); // 8 queued, 4 owed
  let writesThen = -1;
  await c.room(10_000).then(() => {
    writesThen = c.stats().writes;
  });
  t.ok(
    writesThen >= 8,
    `released once nothing is owed and at most 4 blocks are queued (${writesThen} written)`,
  );
  t.equal(c.stats().paced, 1, 'the wait is counted');
  await c.settle(10_000);
  t.same([c.stats().writes, c.stats().skipped], [12, 0]);
});

t.test(
  'a first read paced to a slow disk writer leaves no block unstored; a remount needs no GET',
  async (t) => {
    const dir = await tempDir(t);
    const store = new MemoryObjectStore();
    const data = randomBytes(40 * B + 7);
    const etag = store.putBytes('k', data);
    const obj = { key: 'k', size: data.length, etag, version: etag };
    const mount = async (slow: boolean) => {
      const disk = new DiskCache({
        dir,
        maxBytes: 1 << 30,
        namespace: 'ep\nbucket',
        blockBytes: B,
        logger: nullLogger(),
        writeQueueBytes: 4 * B,
      });
      await disk.init();
      if (slow) {
        // one block file at a time, 5 ms each: the reader, all in memory, is far faster
        const writer = (disk as unknown as { writer: { write: (f: unknown) => Promise<void> } }).writer;
        const write = writer.write.bind(writer);
        let chain = Promise.resolve();
        writer.write = (f) => {
          const done = chain.then(() => new Promise((r) => setTimeout(r, 5))).then(() => write(f));
          chain = done.catch(() => undefined);
          return done;
        };
      }
      const fetcher = fetcherOver({ store, cache: new BlockCache(8 * B), disk, prefetchBudgetBytes: 4 * B });
      return { disk, reader: new ObjectReader(obj, fetcher, 4 * B) };
    };
    const readAll = async (r: ObjectReader) => {
      const out = Buffer.alloc(data.length);
      for (let off = 0; off < data.length; off += 50_000)
        await r.read(out.subarray(off), off, Math.min(50_000, data.length - off));
      return out;
    };
    const first = await mount(true);
    t.ok((await readAll(first.reader)).equals(data), 'first read: the bytes');
    await first.disk.settle(20_000);
    t.equal(first.disk.stats().skipped, 0, 'no block was skipped');
    t.ok(first.disk.stats().paced > 0, 'prefetches waited for the writer');
    const gets = store.calls['getRange'] ?? 0;
    const second = await mount(false);
    t.ok((await readAll(second.reader)).equals(data), 'after a remount: the same bytes');
    t.equal(store.calls['getRange'] ?? 0, gets, 'and no GET');
  },
);

t.test('a block subdirectory removed under the cache is made again for the next block', async (t) => {
  const dir = await tempDir(t);
  const c = await diskCache(dir);
  c.write(id(0), randomBytes(B));
  await written(c, 1);
  const [first] = await files(dir);
  await rm(join(first as string, '..'), { recursive: true });
  const data = randomBytes(B);
  c.write(id(1), data); // same object version: same subdirectory, which this mount made once
  await written(c, 2);
  t.ok((await c.read(id(1)))?.equals(data), 'stored and read back');
  t.equal(c.stats().writes, 2, 'no block lost');
});

t.test('the last, short block is stored with its own length; a wrong length is not stored', async (t) => {
  const dir = await tempDir(t);
  const c = await diskCache(dir);
  c.write(id(3), randomBytes(B)); // block 3 of a 3B+100 object is 100 bytes: refused
  const last = randomBytes(100);
  c.write(id(3), last);
  await written(c, 1);
  t.equal(c.stats().writes, 1, 'only the right-sized block was written');
  t.ok((await c.read(id(3)))?.equals(last));
});

t.test('damaged, truncated or foreign files are dropped and counted, never served', async (t) => {
  const dir = await tempDir(t);
  const c = await diskCache(dir);
  for (const i of [0, 1, 2]) c.write(id(i), randomBytes(B));
  await written(c, 3);
  const [f0, f1, f2] = (await files(dir)).sort();
  // one flipped data byte, one cut short, one replaced by another block's file
  const b0 = await readFile(f0 as string);
  b0[HEADER_BYTES + 10] = (b0[HEADER_BYTES + 10] as number) ^ 0xff;
  await writeFile(f0 as string, b0);
  await writeFile(f1 as string, (await readFile(f1 as string)).subarray(0, HEADER_BYTES + 5));
  await writeFile(f2 as string, await readFile(f0 as string));
  for (const i of [0, 1, 2]) t.equal(await c.read(id(i)), undefined, `block ${i} is not served`);
  t.equal(c.stats().corrupt, 3, 'three damaged files counted');
  t.same(await files(dir), [], 'and deleted');
});

t.test('the directory stays under its limit, evicting the least recently used', async (t) => {
  const dir = await tempDir(t);
  const max = 8 * (B + HEADER_BYTES);
  const c = await diskCache(dir, max);
  const size = 100 * B;
  for (let i = 0; i < 6; i++) c.write(id(i, '"e"', size), randomBytes(B));
  await written(c, 6);
  // make blocks 0..5 old, block 0 the most recently used (a hit touches its file a second
  // later, unless this mount touched it within the last minute)
  const old = Date.now() / 1000 - 3600;
  for (const f of await files(dir)) await utimes(f, old, old);
  t.ok(await c.read(id(0, '"e"', size)), 'block 0 read: touched');
  await eventually(
    async () => (await stat(await pathOfBlock(dir, 0))).mtimeMs > old * 1000 + 1000,
    10_000,
    20,
  );
  for (let i = 6; i < 12; i++) c.write(id(i, '"e"', size), randomBytes(B));
  await written(c, 12);
  await c.evict();
  const total = (await Promise.all((await files(dir)).map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);
  t.ok(total <= max, `on disk ${total} <= ${max}`);
  t.ok(c.stats().evicted >= 4, `evicted ${c.stats().evicted}`);
  t.ok(await c.read(id(0, '"e"', size)), 'the recently used block survived');
  t.equal(await c.read(id(1, '"e"', size)), undefined, 'an old one was evicted');
});

/** the file whose header names block `index` (file names are hashes; the header says) */
async function pathOfBlock(dir: string, index: number): Promise<string> {
  for (const f of await files(dir)) if ((await readFile(f)).readUInt32LE(40) === index) return f;
  throw new Error(`block ${index} not on disk`);
}

t.test('a fetcher over the disk cache serves a remount without S3, and stays byte-exact', async (t) => {
  const dir = await tempDir(t);
  const store = new MemoryObjectStore();
  const data = randomBytes(10 * B + 123);
  const etag = store.putBytes('k', data);
  const obj = { key: 'k', size: data.length, etag, version: etag };

  const mount = async () => {
    const disk = await diskCache(dir, 1 << 30);
    const fetcher = fetcherOver({ store, cache: new BlockCache(64 * B), disk, prefetchBudgetBytes: 32 * B });
    return { disk, reader: new ObjectReader(obj, fetcher, 8 * B) };
  };
  const readAll = async (r: ObjectReader) => {
    const out = Buffer.alloc(data.length);
    for (let off = 0; off < data.length; off += 50_000)
      await r.read(out.subarray(off), off, Math.min(50_000, data.length - off));
    return out;
  };

  const first = await mount();
  t.ok((await readAll(first.reader)).equals(data), 'first read: bytes from S3');
  await written(first.disk, 11);
  const getsBefore = store.calls['getRange'] ?? 0;
  t.ok(getsBefore > 0, 'the first read went to S3');

  const second = await mount();
  t.ok((await readAll(second.reader)).equals(data), 'after a remount: the same bytes');
  t.equal(store.calls['getRange'] ?? 0, getsBefore, 'and no GET');
  t.equal(second.disk.stats().hits, 11, 'all 11 blocks from disk');

  // one block damaged on disk: fetched from S3 again, still byte-exact
  const f = (await files(dir))[0] as string;
  const b = await readFile(f);
  b[HEADER_BYTES] = (b[HEADER_BYTES] as number) ^ 1;
  await writeFile(f, b);
  const third = await mount();
  t.ok((await readAll(third.reader)).equals(data), 'with a damaged block: the same bytes');
  t.equal(third.disk.stats().corrupt, 1, 'the damaged block was detected');
  t.ok((store.calls['getRange'] ?? 0) > getsBefore, 'and fetched again');
});

t.test(
  'two instances sharing a directory, writing the same blocks at once, read correct bytes',
  async (t) => {
    const dir = await tempDir(t);
    const [a, b] = await Promise.all([diskCache(dir, 1 << 30), diskCache(dir, 1 << 30)]);
    const blocks = Array.from({ length: 20 }, () => randomBytes(B));
    const size = 20 * B;
    // one instance writes a block once while it is queued: rounds, each after the last
    for (let round = 1; round <= 3; round++) {
      blocks.forEach((d, i) => {
        a.write(id(i, '"x"', size), d);
        b.write(id(i, '"x"', size), d);
      });
      await written(a, 20 * round);
      await written(b, 20 * round);
    }
    for (const [i, d] of blocks.entries()) {
      t.ok((await a.read(id(i, '"x"', size)))?.equals(d), `block ${i} via a`);
    }
    t.equal(a.stats().corrupt + b.stats().corrupt, 0, 'no damaged file seen');
    t.same(
      (await readdir(join(dir, 'v1'))).filter((n) => n.startsWith('.tmp')),
      [],
      'no temporary file left',
    );
  },
);

t.test(
  'a block the disk cache does not have takes no block cache memory until its GET brings bytes',
  async (t) => {
    const dir = await tempDir(t);
    const store = new MemoryObjectStore();
    const a = randomBytes(4 * B);
    const b = randomBytes(2 * B);
    const ea = store.putBytes('a', a);
    const eb = store.putBytes('b', b);
    const objA = { key: 'a', size: a.length, etag: ea, version: ea };
    const objB = { key: 'b', size: b.length, etag: eb, version: eb };
    const cache = new BlockCache(4 * B, B, new ReadModel()); // four slots: all of a's blocks
    const disk = await diskCache(dir, 1 << 30);
    const fetcher = fetcherOver({ store, cache, disk, prefetchBudgetBytes: 2 * B });
    for (let i = 0; i < 4; i++) await fetcher.block(objA, i);
    const cachedA = () =>
      [0, 1, 2, 3].filter((index) => cache.hasCached({ key: 'a', version: ea, index })).length;
    t.equal(cachedA(), 4, "a's four blocks are in memory");
    let go!: () => void;
    const gate = new Promise<void>((r) => (go = r));
    store.beforeGet = () => gate;
    const reading = fetcher.block(objB, 0);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    // (taking a slot for the disk lookup evicted one of a's blocks while the GET waited)
    t.equal(cachedA(), 4, 'while the GET waits, none of them was evicted');
    go();
    t.ok((await reading).equals(b.subarray(0, B)), "b's block, exact");
    t.equal(cachedA(), 3, 'its bytes took one slot');
  },
);

t.test(
  'with the native read table: blocks known good on disk are read there by FUSE threads once memory lets them go',
  async (t) => {
    const dir = await tempDir(t);
    const store = new MemoryObjectStore();
    const data = randomBytes(10 * B + 123);
    const etag = store.putBytes('k', data);
    const obj = { key: 'k', size: data.length, etag, version: etag };
    const port = new ReadModel();
    const cache = new BlockCache(4 * B, B, port); // four blocks in memory
    const disk = await diskCache(dir, 1 << 30);
    const map = new DiskMap(port, cache, 6); // six block files mapped at most
    disk.onEvict((path) => map.drop(path));
    const fetcher = fetcherOver({ store, cache, disk, diskMap: map, prefetchBudgetBytes: 2 * B });
    const fast = new FastReads(port, cache);
    const r = new ObjectReader(obj, fetcher, 0);
    r.attachFast(fast, 5);
    // one block's file at a time: the mappings then come in block order (written
    // together, the files finished in any order under load, and other blocks stayed mapped)
    for (let i = 0; i < 11; i++) {
      await fetcher.block(obj, i);
      await written(disk, i + 1);
    }
    t.equal(map.size, 6, 'the mapping cap holds: six files mapped');
    t.equal(port.files_.size, 6, 'and six in the table');
    // blocks 0-6 left memory; of them, the files of 5 and 6 are still mapped (the last six: 5-10)
    t.notOk(cache.hasCached({ key: 'k', version: etag, index: 5 }), 'block 5 is not in memory');
    const got = port.serve(5, 5 * B + 100, 2 * B);
    t.ok(
      got?.equals(data.subarray(5 * B + 100, 7 * B + 100)),
      'blocks 5 and 6 served from their files, byte-exact',
    );
    t.equal(port.served.diskReads, 1, 'counted as a read from a block file');
    t.equal(port.serve(5, 0, 100), undefined, 'block 0 (unmapped by the cap) goes to JavaScript');
    // the disk cache evicts everything: the mappings go with the files
    for (const f of await files(dir)) await utimes(f, 1, 1);
    const small = new DiskCache({
      dir,
      maxBytes: 1,
      namespace: 'ep\nbucket',
      blockBytes: B,
      logger: nullLogger(),
    });
    small.onEvict((path) => map.drop(path));
    await small.init();
    t.equal(map.size, 0, 'evicted files are unmapped');
    t.equal(port.serve(5, 5 * B + 100, 100), undefined, 'their reads go to JavaScript');
    r.close();
    map.close();
    t.equal(port.files_.size, 0, 'closed: no block file left mapped');
  },
);

t.test(
  'a random read with a disk cache fills the whole object into it once, in the background; a large object is not',
  async (t) => {
    const dir = await tempDir(t);
    const store = new MemoryObjectStore();
    const data = randomBytes(40 * B + 7);
    const etag = store.putBytes('k', data);
    const obj = { key: 'k', size: data.length, etag, version: etag };
    const big = randomBytes(20 * B);
    const bigEtag = store.putBytes('big', big);
    const bigObj = { key: 'big', size: big.length, etag: bigEtag, version: bigEtag };
    // 41 blocks fit a quarter of the directory's limit; the 20-block object does not fit a quarter of 60
    const disk = await diskCache(dir, 200 * (B + HEADER_BYTES));
    const fillFetcher = (disk: DiskCache) =>
      fetcherOver({ store, cache: new BlockCache(8 * B), disk, getSlots: 2, prefetchBudgetBytes: 4 * B });
    const fetcher = fillFetcher(disk);
    const looked: number[] = []; // blocks looked for on disk
    const read = disk.read.bind(disk);
    disk.read = (id, into) => {
      looked.push(id.index);
      return read(id, into);
    };
    fetcher.ensureAround(obj, 17, 17);
    await written(disk, 41);
    disk.read = read;
    t.equal(fetcher.counters.bytes, data.length, 'the object fetched exactly once');
    t.equal(fetcher.fillCounters.objects, 1, 'one fill');
    // the read's group was looked for on disk; the fill's blocks were not, and count as missed
    const group = RANDOM_READ_GROUP_START_BYTES / B;
    t.ok(looked.length <= group, `the fill does not look on disk first: ${looked.length} blocks looked for`);
    t.equal(disk.stats().misses, 41, 'every block counted missed once');
    for (const i of [0, 17, 40]) {
      const got = await disk.read({ key: 'k', etag, size: data.length, index: i });
      t.ok(
        got?.equals(data.subarray(i * B, Math.min(data.length, (i + 1) * B))),
        `block ${i} on disk, exact`,
      );
    }
    fetcher.ensureAround(obj, 30, 30);
    t.equal(fetcher.fillCounters.objects, 1, 'not filled again');

    const small = await diskCache(await tempDir(t), 60 * (B + HEADER_BYTES));
    const f2 = fillFetcher(small);
    f2.ensureAround(bigObj, 5, 5);
    await f2.block(bigObj, 5);
    t.equal(f2.fillCounters.objects, 0, 'an object over a quarter of --cache-dir-size is not filled');
    t.ok(f2.counters.bytes < big.length, `only what the read needed: ${f2.counters.bytes} bytes`);
  },
);
