// DiskMap: block files of the disk cache (--cache-dir) mapped in the FUSE layer's read
// table, so that FUSE threads answer a read of a block the memory cache no longer holds
// with a pread of its file, without a round trip through JavaScript. A block is mapped
// once its file is known good: written by this mount from a fetch, or read back with its
// checksum verified. Each mapping holds a descriptor (opened by the C) and a reference to
// its object version's entry in the table; at most `max` are kept, the least recently
// mapped unmapped first. A file this mount's eviction deletes is unmapped with it.
import type { ArenaPort, BlockCache, FileRef } from './block-cache.js';

/** an object version as the block cache names it (block-fetcher's ObjectVersion is one) */
interface ObjectVersion {
  key: string;
  version: string;
  size: number;
}

interface Mapping {
  obj: ObjectVersion;
  file: FileRef;
  index: number;
  path: string;
}

export class DiskMap {
  /** by object version and block; insertion order is mapping order */
  private readonly mapped = new Map<string, Mapping>();
  private readonly byPath = new Map<string, string>();

  constructor(
    private readonly port: ArenaPort,
    private readonly cache: BlockCache,
    /** most block files mapped at once (descriptors held) */
    private readonly max: number,
  ) {}

  get size(): number {
    return this.mapped.size;
  }

  /** Block `index` of `obj` is intact in the file at `path`: FUSE threads may read it there. */
  offer(obj: ObjectVersion, index: number, path: string): void {
    if (this.max <= 0) return;
    const k = `${obj.version}\n${obj.key}\n${index}`;
    if (this.mapped.has(k) || this.byPath.has(path)) return;
    const file = this.cache.openFile(obj, obj.size);
    if (!file) return;
    if (!this.port.mapFile(file.id, index, path)) {
      this.cache.closeFile(obj, file);
      return;
    }
    this.mapped.set(k, { obj, file, index, path });
    this.byPath.set(path, k);
    while (this.mapped.size > this.max) {
      const oldest = this.mapped.keys().next().value as string;
      this.unmap(oldest);
    }
  }

  /** The file at `path` is gone (evicted, or found damaged): FUSE threads stop reading it. */
  drop(path: string): void {
    const k = this.byPath.get(path);
    if (k !== undefined) this.unmap(k);
  }

  /** Unmaps everything (unmount). */
  close(): void {
    for (const k of [...this.mapped.keys()]) this.unmap(k);
  }

  private unmap(k: string): void {
    const m = this.mapped.get(k);
    if (!m) return;
    this.mapped.delete(k);
    if (this.byPath.get(m.path) === k) this.byPath.delete(m.path);
    this.port.unmapFile(m.file.id, m.index);
    this.cache.closeFile(m.obj, m.file);
  }
}
