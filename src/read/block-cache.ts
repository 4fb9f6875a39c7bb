// BlockCache: object bytes in fixed-size blocks, an LRU bounded in bytes, plus the
// in-flight fetches so that concurrent readers of the same block share one GET.
//
// With an ArenaPort (the FUSE layer's native fast path) the blocks live in one arena of
// slots the port allocated, and each complete block is mapped in the port's table, so
// FUSE threads answer reads of cached blocks themselves. A slot is unmapped (no FUSE
// thread reads it any more) before it is reused.
import { LRUCache } from 'lru-cache';

export interface BlockId {
  key: string;
  /** identifies the object version: blocks of different versions never mix */
  version: string;
  index: number;
}

/** The FUSE layer's native table of arena slots, object versions and open handles. */
export interface ArenaPort {
  /** allocates the arena: `slots` blocks of 2^blockShift bytes */
  arena(slots: number, blockShift: number): Buffer;
  /** registers an object version of `size` bytes; its id, or -1 when the table is full */
  openFile(size: number): number;
  /**
   * forgets it and detaches its handles; returns how many of its blocks were still mapped
   * (unmapped now: 0 unless the cache lost count)
   */
  closeFile(id: number): number;
  map(id: number, block: number, slot: number): void;
  /**
   * once this returns no FUSE thread reads that block's slot; true if one read from it
   * since it was mapped
   */
  unmap(id: number, block: number): boolean;
  /**
   * FUSE threads read block `block` of file `id` from the disk cache's block file at
   * `path` (its data after the header) while the arena does not hold it; false if refused
   * (file not open, block already mapped from a file, table full, file missing or short)
   */
  mapFile(id: number, block: number, path: string): boolean;
  /** once this returns no FUSE thread reads that block's file; true if it was mapped */
  unmapFile(id: number, block: number): boolean;
  /** FUSE threads serve reads on handle `fh` from file `id`; JS is woken past `trigger` */
  attach(fh: number, id: number, trigger: number): boolean;
  detach(fh: number): void;
  arm(fh: number, trigger: number): void;
  /** end of the last read served on `fh` if its trigger fired since the last arm, else -1 */
  take(fh: number): number;
  /** `fn` runs on the JS thread after some handle's trigger fired */
  onTrigger(fn: () => void): void;
}

export function blockCacheKey(id: BlockId): string {
  return `${id.version}\n${id.index}\n${id.key}`;
}

function fileKey(id: { key: string; version: string }): string {
  return `${id.version}\n${id.key}`;
}

/** An object version registered in the port: its id there, refcounted. */
export interface FileRef {
  id: number;
  /** mapped blocks plus attached handles */
  refs: number;
}

interface Entry {
  buf: Buffer;
  /** arena slot, or -1 for a block in ordinary memory */
  slot: number;
  index: number;
  file: FileRef | undefined;
  fileKey: string;
  /** fetched ahead of any read (a random read's group) and not read yet */
  ahead: boolean;
}

export class BlockCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Buffer>>();
  /** arena slots of blocks being fetched, by block key, with the fetch that fills each */
  private readonly filling = new Map<string, { slot: number; fetch: Promise<Buffer> | undefined }>();
  private readonly arena: Buffer | undefined;
  private readonly free: number[] = [];
  private readonly files = new Map<string, FileRef>();
  /**
   * aheadUsed / aheadWasted: blocks fetched ahead (`track(..., ahead)`) that were read
   * before eviction (here or by a FUSE thread) / evicted unread: what RandomGroup learns from
   */
  readonly counters = { hits: 0, misses: 0, joined: 0, aheadUsed: 0, aheadWasted: 0, leftMapped: 0 };

  constructor(
    readonly maxBytes: number,
    private readonly blockBytes = 0,
    private readonly port?: ArenaPort,
  ) {
    this.lru = new LRUCache<string, Entry>({
      maxSize: maxBytes,
      sizeCalculation: (e) => Math.max(1, e.buf.length),
      dispose: (e) => this.drop(e),
    });
    if (port && blockBytes > 0) {
      const slots = Math.floor(maxBytes / blockBytes);
      this.arena = port.arena(slots, Math.log2(blockBytes));
      for (let i = slots - 1; i >= 0; i--) this.free.push(i);
    }
  }

  /** Whether the block is cached (not merely being fetched), without touching its recency. */
  hasCached(id: BlockId): boolean {
    return this.lru.has(blockCacheKey(id));
  }

  /** A cached block's bytes, without touching its recency or any counter (copy them at once). */
  peekCached(id: BlockId): Buffer | undefined {
    return this.lru.peek(blockCacheKey(id))?.buf;
  }

  has(id: BlockId): boolean {
    const k = blockCacheKey(id);
    return this.lru.has(k) || this.inflight.has(k);
  }

  /** A fetch under way for the block, without touching any counter; else undefined. */
  pending(id: BlockId): Promise<Buffer> | undefined {
    return this.inflight.get(blockCacheKey(id));
  }

  /** A cached block, a fetch already under way, or undefined. */
  lookup(id: BlockId): Buffer | Promise<Buffer> | undefined {
    const k = blockCacheKey(id);
    const e = this.lru.get(k);
    if (e) {
      this.counters.hits++;
      if (e.ahead) {
        e.ahead = false;
        this.counters.aheadUsed++;
      }
      return e.buf;
    }
    const p = this.inflight.get(k);
    if (p) this.counters.joined++;
    return p;
  }

  /**
   * Memory for a block being fetched: an arena slot when there is one (evicting the least
   * recently used block if need be), else ordinary memory.
   */
  allocate(id: BlockId, length: number): Buffer {
    // (a second fetch of a block being filled gets ordinary memory: one slot per key in
    // `filling`, owned by the fetch that took it, which alone gives it back)
    const k = blockCacheKey(id);
    if (this.arena && length <= this.blockBytes && !this.filling.has(k)) {
      if (this.free.length === 0 && this.lru.size > 0) this.lru.pop();
      const slot = this.free.pop();
      if (slot !== undefined) {
        this.filling.set(k, { slot, fetch: this.inflight.get(k) });
        return this.arena.subarray(slot * this.blockBytes, slot * this.blockBytes + length);
      }
    }
    return Buffer.allocUnsafe(length);
  }

  /** Gives back the memory allocate() gave for `id`, unused (the block came from elsewhere). */
  release(id: BlockId): void {
    const k = blockCacheKey(id);
    this.unfill(k, this.inflight.get(k));
  }

  /** the slot allocated for key `k` to `fetch`'s fill, if any, back to the free list */
  private unfill(k: string, fetch: Promise<Buffer> | undefined): void {
    const f = this.filling.get(k);
    if (f === undefined || (f.fetch !== undefined && f.fetch !== fetch)) return; // another fill's
    this.filling.delete(k);
    this.free.push(f.slot);
  }

  /**
   * Registers a fetch under way; it is cached when it resolves and forgotten when it
   * settles. `objectSize` lets FUSE threads serve the block once it is cached. `ahead`:
   * no read asked for this block yet (counted as used or wasted when it is evicted).
   */
  track(id: BlockId, fetch: Promise<Buffer>, objectSize?: number, ahead = false): void {
    const k = blockCacheKey(id);
    this.counters.misses++;
    this.inflight.set(k, fetch);
    fetch.then(
      (buf) => {
        if (this.inflight.get(k) === fetch) this.inflight.delete(k);
        const slot = this.takeSlot(k, buf, fetch);
        if (this.lru.has(k)) {
          // already cached (defensive: ensure() and block() never fetch a cached block)
          if (slot >= 0) this.free.push(slot);
          return;
        }
        const file = slot >= 0 && objectSize !== undefined ? this.openFile(id, objectSize) : undefined;
        if (file) this.port?.map(file.id, id.index, slot);
        const entry: Entry = { buf, slot, index: id.index, file, fileKey: fileKey(id), ahead };
        this.lru.set(k, entry);
        if (!this.lru.has(k)) this.drop(entry); // larger than the whole cache: never added
      },
      () => {
        // the error reaches whoever awaits this block; nothing is cached
        if (this.inflight.get(k) === fetch) this.inflight.delete(k);
        this.unfill(k, fetch);
      },
    );
  }

  /**
   * An open handle reads this object version: registers it in the port (refcounted with
   * its cached blocks) and returns its id for attaching; undefined without a port.
   */
  openFile(obj: { key: string; version: string }, size: number): FileRef | undefined {
    if (!this.port || !this.arena) return undefined;
    const fk = fileKey(obj);
    let f = this.files.get(fk);
    if (!f) {
      const id = this.port.openFile(size);
      if (id < 0) return undefined;
      f = { id, refs: 0 };
      this.files.set(fk, f);
    }
    f.refs++;
    return f;
  }

  closeFile(obj: { key: string; version: string }, file: FileRef): void {
    this.unref(fileKey(obj), file);
  }

  get cachedBytes(): number {
    return this.lru.calculatedSize;
  }

  /** the slot `buf` was filled in, if it is one (`fetch` brought it) */
  private takeSlot(k: string, buf: Buffer, fetch: Promise<Buffer>): number {
    const f = this.filling.get(k);
    if (f === undefined) return -1;
    if (
      this.arena &&
      buf.buffer === this.arena.buffer &&
      buf.byteOffset === this.arena.byteOffset + f.slot * this.blockBytes
    ) {
      this.filling.delete(k);
      return f.slot;
    }
    // not the block's memory after all: the slot is free again if it was this fetch's,
    // else it stays with the fill that took it (which may still be writing into it)
    this.unfill(k, fetch);
    return -1;
  }

  private drop(e: Entry): void {
    let read = false;
    if (e.slot >= 0) {
      if (e.file) {
        read = this.port?.unmap(e.file.id, e.index) ?? false;
        this.unref(e.fileKey, e.file);
      }
      this.free.push(e.slot);
    }
    if (e.ahead) {
      if (read) this.counters.aheadUsed++;
      else this.counters.aheadWasted++;
    }
  }

  private unref(fk: string, f: FileRef): void {
    f.refs--;
    if (f.refs > 0) return;
    if (this.files.get(fk) === f) this.files.delete(fk);
    // (the port unmaps blocks still mapped: counted, as each should have been unmapped first)
    this.counters.leftMapped += this.port?.closeFile(f.id) ?? 0;
  }
}
