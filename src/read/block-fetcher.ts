// BlockFetcher: fills the block cache with ranged GETs pinned to an ETag. Consecutive
// missing blocks are fetched as one request (up to requestBytes), each block resolving
// as soon as its bytes have streamed in.
import type { Logger } from '../log/logger.js';
import { StoreError } from '../s3/errors.js';
import type { ObjectStore } from '../s3/store.js';
import { deferred, type Deferred } from '../util/deferred.js';
import type { Semaphore } from '../util/semaphore.js';
import type { BlockCache, BlockId } from './block-cache.js';
import type { DiskBlockId, DiskCache } from './disk-cache.js';
import type { DiskMap } from './disk-map.js';
import { PrefetchBudget } from './prefetch-budget.js';
import { RANDOM_READ_GROUP_MAX_BYTES, RANDOM_READ_GROUP_START_BYTES, RandomGroup } from './random-group.js';

/**
 * with --cache-dir, an object read at random is fetched whole into the disk cache in the
 * background when it is at most this share of --cache-dir-size...
 */
export const DISK_FILL_MAX_SHARE = 1 / 4;
/** ...in ranged GETs of --request-size, this many in flight (prefetch slots: reads go first) */
export const DISK_FILL_REQUESTS = 4;

export interface ObjectVersion {
  key: string;
  size: number;
  etag: string;
  /** etag, or size+mtime when the server sends no ETag */
  version: string;
}

export interface BlockFetcherOptions {
  store: ObjectStore;
  cache: BlockCache;
  requests: Semaphore;
  /** memory budget: ranged GETs whose bytes may be in flight at once */
  getSlots: Semaphore;
  blockBytes: number;
  requestBytes: number;
  /** prefetched-but-unread bytes all readers together may keep (part of the cache) */
  prefetchBudgetBytes: number;
  /** a read waiting for blocks fails (Timeout) after this long, however many GETs it took (--request-timeout) */
  readDeadlineMs?: number;
  logger: Logger;
  /** --cache-dir: blocks are looked for there before S3, and stored there once fetched */
  disk?: DiskCache;
  /** with the native fast path: block files known good are handed to FUSE threads */
  diskMap?: DiskMap;
}

export class BlockFetcher {
  readonly counters = { requests: 0, bytes: 0 };
  /** what a random read fetches around itself, learnt from the GETs */
  readonly randomGroup: RandomGroup;
  /** the prefetch budget, shared by the readers' streams */
  private readonly budget: PrefetchBudget;
  /** object versions this mount has filled (or is filling) into the disk cache */
  private readonly filled = new Set<string>();
  readonly fillCounters = { objects: 0, failed: 0 };

  constructor(private readonly o: BlockFetcherOptions) {
    this.budget = new PrefetchBudget(o.prefetchBudgetBytes);
    this.randomGroup = new RandomGroup(
      o.blockBytes,
      RANDOM_READ_GROUP_START_BYTES,
      Math.max(o.blockBytes, Math.min(RANDOM_READ_GROUP_MAX_BYTES, o.requestBytes)),
    );
  }

  /** How far ahead `reader`, reading `obj` at offset `at`, may prefetch (PrefetchBudget). */
  prefetchAllowance(reader: object, wantedBytes: number, obj: ObjectVersion, at: number): number {
    return this.budget.allow(reader, wantedBytes, `${obj.key}\0${obj.version}`, at);
  }

  /** The reader is closed. */
  forget(reader: object): void {
    this.budget.forget(reader);
  }

  get blockBytes(): number {
    return this.o.blockBytes;
  }

  /** how long one read may wait for its blocks (0: no deadline of its own) */
  get readDeadlineMs(): number {
    return this.o.readDeadlineMs ?? 0;
  }

  /** most blocks one ranged GET carries */
  get requestBlocks(): number {
    return Math.max(1, Math.floor(this.o.requestBytes / this.o.blockBytes));
  }

  blockCount(obj: ObjectVersion): number {
    return Math.ceil(obj.size / this.o.blockBytes);
  }

  /** Whether any block of `obj` is cached (FUSE threads may have served it). */
  hasAnyBlock(obj: ObjectVersion): boolean {
    for (let i = 0, n = this.blockCount(obj); i < n; i++)
      if (this.o.cache.hasCached({ key: obj.key, version: obj.version, index: i })) return true;
    return false;
  }

  /**
   * A read of blocks [first, last] that is not sequential: fetches them and the aligned
   * group around them that RandomGroup sizes. The blocks around are fetched "ahead" (the
   * cache counts whether they are read before eviction, which sizes later groups), except
   * with a disk cache: there a block evicted unread is still kept, and one the disk
   * already holds is not fetched ahead at all.
   */
  ensureAround(obj: ObjectVersion, first: number, last: number): void {
    const { aheadUsed, aheadWasted } = this.o.cache.counters;
    this.randomGroup.observe(aheadUsed, aheadWasted);
    // before any outcome is known: an object larger than the cache, read at random, has
    // about the cache's share of what is fetched ahead read before eviction
    const disk = this.o.disk;
    this.randomGroup.expect(
      disk || obj.size <= this.o.cache.maxBytes ? undefined : this.o.cache.maxBytes / obj.size,
    );
    const g = Math.max(1, Math.floor(this.randomGroup.forMiss() / this.o.blockBytes));
    const from = Math.floor(first / g) * g;
    const to = Math.min(this.blockCount(obj) - 1, (Math.floor(last / g) + 1) * g - 1);
    const around = (i: number) => i < first || i > last;
    this.ensure(obj, from, to, false, {
      ahead: disk ? () => false : around,
      skip: disk && obj.etag ? (i) => around(i) && disk.has(this.diskId(obj, i)) : () => false,
    });
    if (disk && obj.etag && obj.size <= disk.maxBytes * DISK_FILL_MAX_SHARE) this.fillDisk(disk, obj);
  }

  /**
   * Fetches every block of `obj` the disk cache lacks, in order, as prefetches (demand
   * reads go first): a program reading an object at random (HDF5, NetCDF) soon finds it all
   * on local disk instead of a GET per miss. Once per object version per mount; a failure
   * ends the fill (reads still fetch what they miss).
   */
  private fillDisk(disk: DiskCache, obj: ObjectVersion): void {
    const k = `${obj.version}\n${obj.key}`;
    if (this.filled.has(k)) return;
    this.filled.add(k);
    this.fillCounters.objects++;
    const run = async () => {
      const t0 = performance.now();
      const n = this.blockCount(obj);
      // DISK_FILL_REQUESTS GETs kept in flight: the next starts as soon as one is in
      const inflight = new Set<Promise<void>>();
      for (let first = 0; first < n; first += this.requestBlocks) {
        const last = Math.min(n - 1, first + this.requestBlocks - 1);
        this.ensure(obj, first, last, true, { skip: (i) => disk.has(this.diskId(obj, i)), probe: false });
        const waits: Promise<Buffer>[] = [];
        for (let i = first; i <= last; i++) {
          const p = this.o.cache.pending({ key: obj.key, version: obj.version, index: i });
          if (p) waits.push(p);
        }
        if (waits.length === 0) continue;
        const done: Promise<void> = Promise.all(waits).then(() => {
          inflight.delete(done);
        });
        done.catch(() => undefined); // (awaited below, or the fill has already stopped)
        inflight.add(done);
        if (inflight.size >= DISK_FILL_REQUESTS) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      this.o.logger.debug('disk cache fill done', { key: obj.key, ms: Math.round(performance.now() - t0) });
    };
    void run().catch((err: unknown) => {
      this.fillCounters.failed++;
      this.o.logger.debug('disk cache fill stopped', { key: obj.key, err: (err as Error).message });
    });
  }

  /**
   * Starts fetches for the blocks [first, last] that are neither cached nor under way
   * (nor `skip`ped). Demand fetches (a reader waits for them) go ahead of prefetches.
   */
  ensure(
    obj: ObjectVersion,
    first: number,
    last: number,
    prefetch = false,
    how: { ahead?: (index: number) => boolean; skip?: (index: number) => boolean; probe?: boolean } = {},
  ): void {
    const maxRun = this.requestBlocks;
    let run: number[] = [];
    const flush = () => {
      // a run longer than one request goes out as equal requests (33 blocks: 17 + 16,
      // not 32 + a 1-block request whose overhead is that of a large one)
      const n = Math.ceil(run.length / maxRun);
      for (let k = 0; k < n; k++) {
        const part = run.slice(Math.floor((k * run.length) / n), Math.floor(((k + 1) * run.length) / n));
        this.fetchRun(obj, part, prefetch, how.ahead, how.probe);
      }
      run = [];
    };
    for (let i = first; i <= last; i++) {
      if (this.o.cache.has({ key: obj.key, version: obj.version, index: i }) || how.skip?.(i)) {
        flush();
        continue;
      }
      run.push(i);
    }
    flush();
  }

  /** Whether every block of `obj` is cached or being fetched. */
  isCachedOrFetching(obj: ObjectVersion): boolean {
    for (let i = 0, n = this.blockCount(obj); i < n; i++)
      if (!this.o.cache.has({ key: obj.key, version: obj.version, index: i })) return false;
    return true;
  }

  /**
   * Fetches the blocks of `obj` that are neither cached nor under way, as demand fetches
   * (no GET slot: the caller bounds how many it starts; small objects, one request each);
   * settles when they are in, or rejects with the failure.
   */
  async fetchWhole(obj: ObjectVersion): Promise<void> {
    const n = this.blockCount(obj);
    this.ensure(obj, 0, n - 1);
    const pending: Promise<Buffer>[] = [];
    for (let i = 0; i < n; i++) {
      const got = this.o.cache.lookup({ key: obj.key, version: obj.version, index: i });
      if (got instanceof Promise) pending.push(got);
    }
    await Promise.all(pending);
  }

  /**
   * One block's bytes: from the cache (returned at once: copy them before yielding, an
   * arena slot may be reused later), from a fetch under way, or by fetching it now.
   */
  block(obj: ObjectVersion, index: number): Buffer | Promise<Buffer> {
    const id: BlockId = { key: obj.key, version: obj.version, index };
    const found = this.o.cache.lookup(id);
    if (found) return found;
    this.fetchRun(obj, [index], false);
    const started = this.o.cache.lookup(id);
    if (!started)
      return Promise.reject(new StoreError('Other', 'block fetch was not registered', { key: obj.key }));
    return started;
  }

  private diskId(obj: ObjectVersion, index: number): DiskBlockId {
    return { key: obj.key, etag: obj.etag, size: obj.size, index };
  }

  private fetchRun(
    obj: ObjectVersion,
    indexes: number[],
    prefetch: boolean,
    ahead?: (index: number) => boolean,
    /** look for the blocks on disk first (false, the fill: 4,096 failed opens a GiB saved) */
    probe = true,
  ): void {
    const waiters: Deferred<Buffer>[] = indexes.map(() => deferred<Buffer>());
    indexes.forEach((index, i) => {
      const d = waiters[i] as Deferred<Buffer>;
      // readers that never ask for a prefetched block must not see an unhandled rejection
      d.promise.catch(() => undefined);
      const id = { key: obj.key, version: obj.version, index };
      this.o.cache.track(id, d.promise, obj.size, ahead?.(index) ?? false);
    });
    const disk = this.o.disk;
    if (disk && obj.etag && !probe) disk.missed(indexes.length);
    if (disk && obj.etag && probe)
      void this.fromDisk(disk, obj, indexes, waiters, prefetch).catch((err: unknown) => {
        for (const w of waiters) w.reject(err);
      });
    else this.fromStore(obj, indexes, waiters, prefetch);
  }

  /** Serves what the disk cache has; the rest goes to S3 as contiguous runs. */
  private async fromDisk(
    disk: DiskCache,
    obj: ObjectVersion,
    indexes: number[],
    waiters: Deferred<Buffer>[],
    prefetch: boolean,
  ): Promise<void> {
    // A block this mount knows is on disk is read from its file straight into the memory
    // it is cached in. Memory is not taken for the others: taking it evicts a cached block
    // (one still waiting for its own disk write, during a first read), and they mostly miss.
    const B = this.o.blockBytes;
    const ids: BlockId[] = indexes.map((index) => ({ key: obj.key, version: obj.version, index }));
    const diskIds = indexes.map((index) => this.diskId(obj, index));
    const slots = indexes.map((index, i) =>
      disk.has(diskIds[i] as DiskBlockId)
        ? this.o.cache.allocate(ids[i] as BlockId, Math.min(B, obj.size - index * B))
        : undefined,
    );
    const found = await Promise.all(diskIds.map((d, i) => disk.read(d, slots[i])));
    let runIndexes: number[] = [];
    let runWaiters: Deferred<Buffer>[] = [];
    const flush = () => {
      if (runIndexes.length > 0) this.fromStore(obj, runIndexes, runWaiters, prefetch);
      runIndexes = [];
      runWaiters = [];
    };
    indexes.forEach((index, i) => {
      const data = found[i];
      const w = waiters[i] as Deferred<Buffer>;
      const slot = slots[i];
      if (data) {
        flush();
        // the bytes in cache memory: read there, or copied (a file another mount wrote, or
        // a block still in the disk write queue)
        const buf = slot ?? this.o.cache.allocate(ids[i] as BlockId, data.length);
        if (buf !== data) data.copy(buf);
        w.resolve(buf);
        this.o.diskMap?.offer(obj, index, disk.pathOf(diskIds[i] as DiskBlockId));
      } else {
        if (slot) this.o.cache.release(ids[i] as BlockId);
        runIndexes.push(index);
        runWaiters.push(w);
      }
    });
    flush();
  }

  private fromStore(
    obj: ObjectVersion,
    indexes: number[],
    waiters: Deferred<Buffer>[],
    prefetch: boolean,
  ): void {
    const B = this.o.blockBytes;
    const first = indexes[0] as number;
    const last = indexes[indexes.length - 1] as number;
    const start = first * B;
    const end = Math.min(obj.size, (last + 1) * B);
    // prefetch waits for a memory slot (and, for the disk cache, for its writer to keep
    // up); a demand fetch (small, someone waits) does not
    const run = () => this.o.requests.run(() => this.stream(obj, start, end, waiters));
    const disk = obj.etag ? this.o.disk : undefined;
    const paced = () => (disk ? disk.room().then(() => this.o.getSlots.run(run)) : this.o.getSlots.run(run));
    void (prefetch ? paced() : run()).catch((err: unknown) => {
      for (const w of waiters) w.reject(err);
    });
  }

  private async stream(
    obj: ObjectVersion,
    start: number,
    end: number,
    waiters: Deferred<Buffer>[],
  ): Promise<void> {
    const B = this.o.blockBytes;
    this.counters.requests++;
    let pos = start; // absolute offset of the next byte
    let w = 0; // index into waiters of the block being filled
    const first = start / B;
    const alloc = (at: number) =>
      this.o.cache.allocate({ key: obj.key, version: obj.version, index: first + w }, Math.min(B, end - at));
    let buf: Buffer | undefined;
    let fill = 0;
    const t0 = performance.now();
    let firstByte = -1;
    await this.o.store.readInto(
      { key: obj.key, start, end, objectSize: obj.size, ...(obj.etag ? { etag: obj.etag } : {}) },
      {
        space: () => {
          if (w >= waiters.length)
            throw new StoreError('Other', 'GetObject returned more bytes than asked', { key: obj.key });
          if (firstByte < 0) firstByte = performance.now();
          buf ??= alloc(pos);
          return fill === 0 ? buf : buf.subarray(fill);
        },
        filled: (n) => {
          fill += n;
          pos += n;
          if (fill === (buf as Buffer).length) {
            if (this.o.disk && obj.etag) {
              const index = first + w;
              const id = { key: obj.key, version: obj.version, index };
              const map = this.o.diskMap;
              // when the disk's write queue is full: stored later from the block cache, if still there
              this.o.disk.write(
                this.diskId(obj, index),
                buf as Buffer,
                () => this.o.cache.peekCached(id),
                map ? (path) => map.offer(obj, index, path) : undefined,
              );
            }
            (waiters[w] as Deferred<Buffer>).resolve(buf as Buffer);
            w++;
            buf = undefined;
            fill = 0;
          }
        },
      },
    );
    this.counters.bytes += pos - start;
    if (firstByte >= 0) this.randomGroup.record(firstByte - t0, performance.now() - firstByte, pos - start);
    if (pos !== end)
      throw new StoreError('Other', `GetObject ended early at ${pos} of ${end}`, {
        key: obj.key,
        op: 'GetObject',
      });
  }
}
