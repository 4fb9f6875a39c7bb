// ObjectReader: reads of one open file, pinned to the object version seen at open.
// Serves reads from the block cache and keeps a prefetch window of blocks in flight.
import type { BlockFetcher, ObjectVersion } from './block-fetcher.js';
import { PrefetchWindow } from './window.js';

export class ObjectReader {
  private readonly window: PrefetchWindow;

  constructor(
    readonly object: ObjectVersion,
    private readonly fetcher: BlockFetcher,
    readAheadBytes: number,
  ) {
    const B = fetcher.blockBytes;
    // first window: one block, so a small probe (file(1), a header read) costs one block
    this.window = new PrefetchWindow(B, readAheadBytes);
  }

  /** Copies up to `length` bytes at `offset` into `dest`; returns the count (0 at EOF). */
  async read(dest: Buffer, offset: number, length: number): Promise<number> {
    const size = this.object.size;
    if (offset >= size || length <= 0) return 0;
    const end = Math.min(size, offset + length);
    const B = this.fetcher.blockBytes;
    const first = Math.floor(offset / B);
    const last = Math.floor((end - 1) / B);
    const ahead = this.window.onRead(offset, end - offset);
    const lastBlock = this.fetcher.blockCount(this.object) - 1;
    const prefetchLast = Math.min(lastBlock, Math.floor((end + ahead - 1) / B));
    this.fetcher.ensure(this.object, first, Math.max(last, prefetchLast));
    let copied = 0;
    for (let i = first; i <= last; i++) {
      const block = await this.fetcher.block(this.object, i);
      const blockStart = i * B;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + block.length) - blockStart;
      block.copy(dest, copied, from, to);
      copied += to - from;
    }
    return copied;
  }
}
