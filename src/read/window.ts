// PrefetchWindow: how far ahead of a reader to fetch. Pure policy, one per open file.
// Starts small (a first read may be a header probe), doubles while reads stay sequential,
// and falls back to the start size on a seek.

/**
 * Reads are "sequential" if they start near where the last one ended. The kernel
 * issues 128 KiB reads from several FUSE threads, so they can arrive slightly out of
 * order: allow this much backwards reordering.
 */
export const REORDER_TOLERANCE_BYTES = 1024 * 1024;

export class PrefetchWindow {
  private nextOffset = -1;
  private windowBytes: number;

  constructor(
    private readonly initialBytes: number,
    private readonly maxBytes: number,
  ) {
    this.windowBytes = Math.min(initialBytes, maxBytes);
  }

  /** Records a read and returns how many bytes past its end should be prefetched. */
  onRead(offset: number, length: number): number {
    if (this.maxBytes <= 0) return 0;
    const end = offset + length;
    const sequential =
      this.nextOffset >= 0 &&
      offset >= this.nextOffset - REORDER_TOLERANCE_BYTES &&
      offset <= this.nextOffset + this.windowBytes;
    if (offset === 0 && this.nextOffset < 0) {
      // first read from the start of the file: likely a full sequential read
      this.windowBytes = Math.min(this.initialBytes, this.maxBytes);
      this.nextOffset = end;
      return this.windowBytes;
    }
    if (sequential) return this.onAdvance(end);
    // a seek (or the first read in the middle of a file): no prefetch until it proves sequential
    this.windowBytes = Math.min(this.initialBytes, this.maxBytes);
    this.nextOffset = end;
    return 0;
  }

  /**
   * The reader progressed sequentially up to `end` (also when FUSE threads answered the
   * reads from cached blocks without this window seeing them): the window doubles.
   */
  onAdvance(end: number): number {
    if (this.maxBytes <= 0) return 0;
    if (end > this.nextOffset) {
      this.windowBytes = Math.min(this.windowBytes * 2, this.maxBytes);
      this.nextOffset = end;
    }
    return this.windowBytes;
  }

  get currentBytes(): number {
    return this.windowBytes;
  }
}
