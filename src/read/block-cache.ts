// BlockCache: object bytes in fixed-size blocks, an LRU bounded in bytes, plus the
// in-flight fetches so that concurrent readers of the same block share one GET.
import { LRUCache } from 'lru-cache';

export interface BlockId {
  key: string;
  /** identifies the object version: blocks of different versions never mix */
  version: string;
  index: number;
}

export function blockCacheKey(id: BlockId): string {
  return `${id.version}\n${id.index}\n${id.key}`;
}

export class BlockCache {
  private readonly lru: LRUCache<string, Buffer>;
  private readonly inflight = new Map<string, Promise<Buffer>>();
  readonly counters = { hits: 0, misses: 0, joined: 0 };

  constructor(readonly maxBytes: number) {
    this.lru = new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.length) });
  }

  get(id: BlockId): Buffer | undefined {
    return this.lru.get(blockCacheKey(id));
  }

  has(id: BlockId): boolean {
    const k = blockCacheKey(id);
    return this.lru.has(k) || this.inflight.has(k);
  }

  /** A cached block, a fetch already under way, or undefined. */
  lookup(id: BlockId): Buffer | Promise<Buffer> | undefined {
    const k = blockCacheKey(id);
    const b = this.lru.get(k);
    if (b) {
      this.counters.hits++;
      return b;
    }
    const p = this.inflight.get(k);
    if (p) this.counters.joined++;
    return p;
  }

  /** Registers a fetch under way; it is cached when it resolves and forgotten when it settles. */
  track(id: BlockId, fetch: Promise<Buffer>): void {
    const k = blockCacheKey(id);
    this.counters.misses++;
    this.inflight.set(k, fetch);
    fetch.then(
      (buf) => {
        if (this.inflight.get(k) === fetch) this.inflight.delete(k);
        this.lru.set(k, buf);
      },
      () => {
        // the error reaches whoever awaits this block; nothing is cached
        if (this.inflight.get(k) === fetch) this.inflight.delete(k);
      },
    );
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  get cachedBytes(): number {
    return this.lru.calculatedSize;
  }
}
