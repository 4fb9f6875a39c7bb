// DiskCache: a persistent cache of fetched blocks on local disk (--cache-dir), below the
// in-memory block cache. One file per block, written to a temporary name and renamed into
// place (so concurrent mounts sharing the directory never see half a file), named by a
// hash of (endpoint+bucket, key, ETag, size, block size) and the block index: a replaced
// object has a new ETag, so its old blocks are never found again and age out. Each file
// carries a header with that identity, the data length and a CRC-32 of the data; anything
// that does not match is dropped and counted, and the block is fetched from S3 again
// (disk-block-file.ts). Size: LRU by file mtime (a hit touches the file), evicting the oldest files once the
// directory holds more than maxBytes. A block waiting to be written is served from its
// queued copy; prefetches wait while the writer is behind (room()); the files this mount
// found or wrote are remembered (`has`: no disk I/O to decide what to fetch ahead).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { preadvWhole } from '../util/local-files.js';
import { BlockFileWriter } from './block-file-writer.js';
import { HEADER_BYTES, blockFileProblem, writeBlockHeader } from './disk-block-file.js';

export { HEADER_BYTES };
/** a hit re-touches its file at most this often (an mtime write per read would be waste) */
const TOUCH_INTERVAL_MS = 60_000;
/** hits mark their files used this long after, together */
const TOUCH_DELAY_MS = 1000;
/** copies of fetched blocks waiting to be written, at most (more wait as owed blocks) */
const WRITE_QUEUE_BYTES = 64 * 1024 * 1024;
/**
 * blocks that found the write queue full, remembered (not their bytes) to be stored once it
 * has room, from wherever their bytes still are (the block cache): 1 GiB of 256 KiB blocks
 */
const OWED_MAX = 4096;
/** a prefetch waits (room()) while blocks are owed, never longer than this at a time (a stuck disk must not stall reads) */
const PACE_WAIT_MS = 2000;
/** an unmount waits this long at most for blocks still queued for the disk (settle) */
const SETTLE_MS = 30_000;
/** object versions whose identity hash is kept (all forgotten at once past this) */
const IDENTITIES_KEPT = 1024;
/** eviction brings the directory down to this fraction of maxBytes */
const EVICT_TO = 0.9;

export interface DiskBlockId {
  key: string;
  etag: string;
  size: number;
  index: number;
}

export interface DiskCacheOptions {
  dir: string;
  maxBytes: number;
  /** what distinguishes one store from another sharing the directory: endpoint and bucket */
  namespace: string;
  blockBytes: number;
  logger: Logger;
  /** the write queue's size (WRITE_QUEUE_BYTES; tests make it small) */
  writeQueueBytes?: number;
}

export interface DiskCacheStats {
  hits: number;
  misses: number;
  bytesRead: number;
  writes: number;
  bytesWritten: number;
  /** blocks not written because the write queue was full */
  skipped: number;
  /** prefetches that waited for the disk writer to catch up (room()) */
  paced: number;
  /** damaged, partial or mismatched files found and dropped */
  corrupt: number;
  evicted: number;
  usedBytes: number;
}

export class DiskCache {
  private readonly root: string;
  private used = 0;
  private queued = 0;
  private evicting: Promise<void> | undefined;
  /** files being written: path → header and data */
  private readonly pending = new Map<string, Buffer>();
  /**
   * paths of the block files this mount found (at start) or wrote (others may add more),
   * each with when this mount last marked it used (0: never)
   */
  private readonly known = new Map<string, number>();
  /** subdirectories this mount made (a mkdir per block took 60 µs of the JavaScript thread) */
  private readonly dirs = new Set<string>();
  /** block files to mark used (touch()), and whether that is under way */
  private readonly toTouch = new Set<string>();
  private touching = false;
  /** the identities of the object versions read last (hashed once, not once per block) */
  private readonly identities = new Map<string, Buffer>();
  /** blocks not queued because the queue was full: path → the block and where its bytes may still be had */
  private readonly owed = new Map<
    string,
    { id: DiskBlockId; bytes: () => Buffer | undefined; stored: ((path: string) => void) | undefined }
  >();
  /** settle() calls waiting for the next write to end */
  private waiters: Array<() => void> = [];
  /** room() calls waiting for the writer to catch up */
  private roomWaiters: Array<() => void> = [];
  /** told of every file this mount's eviction deletes */
  private evicted: (path: string) => void = () => undefined;
  private readonly counters = {
    hits: 0,
    misses: 0,
    bytesRead: 0,
    writes: 0,
    bytesWritten: 0,
    skipped: 0,
    paced: 0,
    corrupt: 0,
    evicted: 0,
  };
  /** writes block files on worker threads, from shared memory */
  private readonly writer: BlockFileWriter;
  private readonly queueBytes: number;
  private readonly tmpTag = randomBytes(4).toString('hex'); // temporary names: pid, this tag, a count
  private tmpCount = 0;
  constructor(private readonly o: DiskCacheOptions) {
    this.root = join(o.dir, 'v1');
    this.writer = new BlockFileWriter(HEADER_BYTES + o.blockBytes);
    this.queueBytes = o.writeQueueBytes ?? WRITE_QUEUE_BYTES;
  }

  /** Creates the directory (0700) and measures what it holds. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const files = await this.scan();
    for (const f of files) this.known.set(f.path, 0);
    this.used = files.reduce((n, f) => n + f.size, 0);
    if (this.used > this.o.maxBytes) await this.evict();
  }

  /** `fn(path)` runs for every block file this mount's eviction deletes */
  onEvict(fn: (path: string) => void): void {
    this.evicted = fn;
  }

  /** the most bytes the directory may hold (--cache-dir-size) */
  get maxBytes(): number {
    return this.o.maxBytes;
  }

  stats(): DiskCacheStats {
    return { ...this.counters, usedBytes: this.used };
  }

  /** Whether the block is on disk (or on its way there), as far as this mount knows. */
  has(id: DiskBlockId): boolean {
    const path = this.pathOf(id);
    return this.known.has(path) || this.pending.has(path);
  }

  /**
   * The block's bytes if the cache has them intact, else undefined (never throws). With
   * `into` (the block's length), the bytes are read straight into it (a block cache slot:
   * no copy) and `into` is returned; its contents are undefined on a miss.
   */
  async read(id: DiskBlockId, into?: Buffer): Promise<Buffer | undefined> {
    const ident = this.identity(id);
    const path = this.pathFor(ident, id.index);
    const expected = this.lengthOf(id);
    const queued = this.pending.get(path);
    if (queued) {
      this.counters.hits++;
      this.counters.bytesRead += queued.length - HEADER_BYTES;
      // (a copy: the queued memory is reused once the file is written)
      if (into?.length !== expected) return Buffer.from(queued.subarray(HEADER_BYTES));
      queued.copy(into, 0, HEADER_BYTES);
      return into;
    }
    const data = into?.length === expected ? into : Buffer.allocUnsafe(expected);
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    // one byte more than the file should hold: a longer file is found without a stat
    const over = Buffer.allocUnsafe(1);
    let bytesRead: number;
    try {
      bytesRead = await preadvWhole(path, [header, data, over]);
    } catch {
      this.known.delete(path);
      return this.missed(); // not cached (or unreadable: treated the same)
    }
    if (bytesRead !== HEADER_BYTES + expected) {
      const size = bytesRead > HEADER_BYTES + expected ? 'longer' : `size ${bytesRead}`;
      await this.drop(path, `${size}, expected ${HEADER_BYTES + expected}`);
      return this.missed();
    }
    const why = blockFileProblem(header, data, ident, id.index);
    if (why) {
      await this.drop(path, why);
      return this.missed();
    }
    const now = Date.now();
    // a hit marks the file recently used for every mount's eviction, at most once a minute
    if (now - (this.known.get(path) ?? 0) > TOUCH_INTERVAL_MS) {
      this.touch(path);
      this.known.set(path, now);
    }
    this.counters.hits++;
    this.counters.bytesRead += data.length;
    return data;
  }

  /**
   * Marks a block file used (its mtime, which every mount's eviction goes by) soon, in the
   * background: the files of a second's hits are touched one after another, off the
   * reads' way (libuv's pool is what reads them). Best effort: lost at unmount.
   */
  private touch(path: string): void {
    this.toTouch.add(path);
    if (this.touching) return;
    this.touching = true;
    setTimeout(() => {
      void (async () => {
        while (this.toTouch.size > 0) {
          const paths = [...this.toTouch];
          this.toTouch.clear();
          const t = Date.now() / 1000;
          for (const p of paths) await utimes(p, t, t).catch(() => undefined);
        }
        this.touching = false;
      })();
    }, TOUCH_DELAY_MS).unref();
  }

  /**
   * Stores a block fetched from S3, in the background. `data` is copied before this
   * returns (the caller's buffer may be reused at once). Never throws. When the write
   * queue is full, the block is owed: stored once the queue has room, with the bytes
   * `again` then gives (undefined: they are gone, and the block is not cached on disk).
   * `stored(path)` runs once the block's file is in place.
   */
  write(
    id: DiskBlockId,
    data: Buffer,
    again?: () => Buffer | undefined,
    stored?: (path: string) => void,
  ): void {
    if (data.length !== this.lengthOf(id)) return;
    const path = this.pathOf(id);
    if (this.pending.has(path)) return;
    if (this.queued + data.length > this.queueBytes) {
      if (again && this.owed.size < OWED_MAX && !this.owed.has(path))
        this.owed.set(path, { id, bytes: again, stored });
      else if (!this.owed.has(path)) this.counters.skipped++;
      return;
    }
    this.owed.delete(path);
    const file = this.writer.slot(HEADER_BYTES + data.length);
    writeBlockHeader(file, this.identity(id), id.index, data.length); // (its CRC-32 is the writer's)
    data.copy(file, HEADER_BYTES);
    this.queued += data.length;
    this.pending.set(path, file);
    void this.store(path, file, stored).finally(() => {
      this.queued -= data.length;
      this.pending.delete(path);
      this.writer.release(file);
      this.payOwed();
      for (const w of this.waiters.splice(0)) w();
      if (this.owed.size === 0 && this.queued <= this.queueBytes / 2)
        for (const w of this.roomWaiters.splice(0)) w();
    });
  }

  /**
   * Resolves at once while the writer keeps up; once blocks are owed, when the queue is
   * half empty and nothing is owed, or after `limitMs`. Prefetches bound for the disk wait
   * on it, so a first read cannot outrun the disk (owed blocks evicted from memory first
   * would be skipped, and fetched again by the next read).
   */
  room(limitMs = PACE_WAIT_MS): Promise<void> {
    if (this.owed.size === 0) return Promise.resolve();
    this.counters.paced++;
    return new Promise<void>((r) => {
      this.roomWaiters.push(r);
      setTimeout(r, limitMs).unref();
    });
  }

  /** Resolves once every block queued or owed is on disk or given up, or after `limitMs`. */
  async settle(limitMs = SETTLE_MS): Promise<void> {
    const until = Date.now() + limitMs;
    while (this.pending.size > 0 && Date.now() < until)
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, until - Date.now()).unref();
      });
  }

  /** Queues owed blocks while the queue has room, oldest first. */
  private payOwed(): void {
    for (const [path, o] of this.owed) {
      if (this.queued + this.o.blockBytes > this.queueBytes) return;
      this.owed.delete(path);
      const data = o.bytes();
      if (data === undefined || data.length !== this.lengthOf(o.id)) this.counters.skipped++;
      else this.write(o.id, data, undefined, o.stored);
    }
  }

  private async store(path: string, file: Buffer, stored?: (path: string) => void): Promise<void> {
    const tmp = join(this.root, `.tmp-${process.pid}-${this.tmpTag}-${++this.tmpCount}`);
    try {
      const dir = join(path, '..');
      // its subdirectory made once per mount, and again if removed under it (the writer)
      await this.writer.write({ file, headerBytes: HEADER_BYTES, tmp, path, mkdir: !this.dirs.has(dir) });
      this.dirs.add(dir);
      this.known.set(path, 0); // its first hit marks it used (an age set since is not known here)
      this.counters.writes++;
      this.counters.bytesWritten += file.length - HEADER_BYTES;
      this.used += file.length;
      if (this.used > this.o.maxBytes) void this.evict();
      stored?.(path);
    } catch (err) {
      this.o.logger.debug('disk cache: block not stored', { err: (err as Error).message });
    }
  }

  /** Deletes the least recently used files until the directory is under its limit. */
  evict(): Promise<void> {
    this.evicting ??= this.evictNow().finally(() => {
      this.evicting = undefined;
    });
    return this.evicting;
  }

  private async evictNow(): Promise<void> {
    // rescan: other mounts sharing the directory add files too
    const files = await this.scan();
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    let used = files.reduce((n, f) => n + f.size, 0);
    const target = this.o.maxBytes * EVICT_TO;
    for (const f of files) {
      if (used <= target) break;
      this.known.delete(f.path);
      this.evicted(f.path);
      try {
        await unlink(f.path);
        this.counters.evicted++;
      } catch {
        // another mount evicted it first
      }
      used -= f.size;
    }
    this.used = used;
  }

  private async scan(): Promise<{ path: string; size: number; mtimeMs: number }[]> {
    const out: { path: string; size: number; mtimeMs: number }[] = [];
    const names = await readdir(this.root, { recursive: true }).catch(() => [] as string[]);
    for (const n of names) {
      if (!n.includes('/')) continue; // the two-letter directories and temporary files
      const path = join(this.root, n);
      const st = await stat(path).catch(() => undefined); // gone meanwhile
      if (st?.isFile()) out.push({ path, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  /** `n` blocks not found here (read and missing, or fetched by the fill without looking) */
  missed(n = 1): undefined {
    this.counters.misses += n;
    return undefined;
  }
  private async drop(path: string, why: string): Promise<void> {
    this.counters.corrupt++;
    this.known.delete(path);
    this.evicted(path);
    this.o.logger.warn('disk cache: damaged block dropped; it is fetched from S3 again', { path, why });
    await unlink(path).catch(() => undefined);
  }

  private lengthOf(id: DiskBlockId): number {
    return Math.max(0, Math.min(this.o.blockBytes, id.size - id.index * this.o.blockBytes));
  }

  /** what names an object version's blocks: a hash of the store, key, ETag, size and block size */
  private identity(id: DiskBlockId): Buffer {
    const k = `${id.key}\0${id.etag}\0${id.size}`;
    let ident = this.identities.get(k);
    if (!ident) {
      ident = createHash('sha256').update(`${this.o.namespace}\0${k}\0${this.o.blockBytes}`).digest();
      if (this.identities.size >= IDENTITIES_KEPT) this.identities.clear();
      this.identities.set(k, ident);
    }
    return ident;
  }

  /** where the block's file is (or would be) */
  pathOf(id: DiskBlockId): string {
    return this.pathFor(this.identity(id), id.index);
  }

  private pathFor(ident: Buffer, index: number): string {
    const hex = ident.toString('hex');
    return join(this.root, hex.slice(0, 2), `${hex.slice(2, 40)}.${index}`);
  }
}
