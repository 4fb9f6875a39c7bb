// FastReads: open handles whose reads FUSE threads answer from cached blocks (the
// ArenaPort), and the wake-ups that let their readers keep prefetching ahead.
import type { ArenaPort, BlockCache, FileRef } from './block-cache.js';
import type { ObjectVersion } from './block-fetcher.js';

/** A reader served by FUSE threads, told how far they got. */
export interface FastReader {
  advance(end: number): void;
}

export class FastReads {
  private readonly readers = new Map<number, { reader: FastReader; object: ObjectVersion; file: FileRef }>();

  constructor(
    private readonly port: ArenaPort,
    private readonly cache: BlockCache,
  ) {
    port.onTrigger(() => this.onTrigger());
  }

  /** Handle `fh` reads `object`: FUSE threads serve its cached blocks. False if not possible. */
  attach(fh: number, object: ObjectVersion, reader: FastReader, trigger: number): boolean {
    const file = this.cache.openFile(object, object.size);
    if (!file) return false;
    if (!this.port.attach(fh, file.id, trigger)) {
      this.cache.closeFile(object, file);
      return false;
    }
    this.readers.set(fh, { reader, object, file });
    return true;
  }

  arm(fh: number, trigger: number): void {
    if (this.readers.has(fh)) this.port.arm(fh, trigger);
  }

  detach(fh: number): void {
    const r = this.readers.get(fh);
    if (!r) return;
    this.readers.delete(fh);
    this.port.detach(fh);
    this.cache.closeFile(r.object, r.file);
  }

  private onTrigger(): void {
    for (const [fh, r] of this.readers) {
      const end = this.port.take(fh);
      if (end >= 0) r.reader.advance(end);
    }
  }
}
