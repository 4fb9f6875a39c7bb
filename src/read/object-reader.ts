// ObjectReader: reads of one open file, pinned to the object version seen at open.
// Serves reads from the block cache and keeps a prefetch window of blocks in flight.
import type { BlockFetcher, ObjectVersion } from './block-fetcher.js';
import type { FastReader, FastReads } from './fast-reads.js';
import { PrefetchWindow } from './window.js';
import { StoreError, type StoreErrorKind } from '../s3/errors.js';
import { withDeadline } from '../util/deadline.js';

/** failures worth a second GET for the block a read waits for */
const TRANSIENT = new Set<StoreErrorKind>(['Unreachable', 'Timeout', 'Throttled', 'Other']);

/** "never wake me": beyond any object size */
const NO_TRIGGER = Number.MAX_SAFE_INTEGER;

/**
 * When a readahead the kernel sent fails, it reads the page again at once, synchronously
 * (filemap_read_folio), within the same read(2): measured, a stalled GET made a read(2)
 * wait two deadlines. A read of a handle that needs S3 this soon after one of its reads
 * timed out fails at once with the same Timeout.
 */
export const TIMEOUT_ECHO_MS = 2000;

export class ObjectReader implements FastReader {
  private readonly window: PrefetchWindow;
  /** last block index a prefetch has been issued for */
  private issuedTo = -1;
  /** when FUSE threads serve this handle from cached blocks */
  private fast: { reads: FastReads; fh: number } | undefined;
  /** when a read of this handle last failed at its deadline */
  private timedOutAtMs = Number.NEGATIVE_INFINITY;

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
    const ahead = this.fetcher.prefetchAllowance(
      this,
      this.window.onRead(offset, end - offset),
      this.object,
      end,
    );
    if (ahead > 0) {
      this.fetcher.ensure(this.object, first, last);
    } else {
      // not sequential: the aligned group of blocks around the read (RandomGroup: 1 MiB
      // to start with, more where round trips are long, down to the read's own blocks
      // when what is fetched around misses goes unread)
      this.fetcher.ensureAround(this.object, first, last);
    }
    this.prefetch(last, ahead);
    this.rearm(end, ahead);
    const deadlineMs = this.fetcher.readDeadlineMs;
    const startMs = Date.now();
    let copied = 0;
    for (let i = first; i <= last; i++) {
      const got = this.fetcher.block(this.object, i);
      // a cached block is copied before anything else runs (its arena slot may be reused)
      const block =
        got instanceof Promise
          ? await this.within(
              got.catch((err: unknown) => this.refetch(err, i)),
              deadlineMs,
              startMs,
            )
          : got;
      const blockStart = i * B;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + block.length) - blockStart;
      block.copy(dest, copied, from, to);
      copied += to - from;
    }
    return copied;
  }

  /**
   * Handle `fh` may be served by FUSE threads from cached blocks; they wake this reader
   * as it passes the middle of its prefetch window.
   */
  attachFast(reads: FastReads, fh: number): void {
    if (reads.attach(fh, this.object, this, NO_TRIGGER)) this.fast = { reads, fh };
  }

  /** FUSE threads served reads up to `end`: keep the prefetch window ahead of them. */
  advance(end: number): void {
    if (end <= 0) return;
    const last = Math.floor((Math.min(end, this.object.size) - 1) / this.fetcher.blockBytes);
    const ahead = this.fetcher.prefetchAllowance(this, this.window.onAdvance(end), this.object, end);
    this.prefetch(last, ahead);
    this.rearm(end, ahead);
  }

  /** The handle is closed: stop counting it among the prefetching readers. */
  close(): void {
    this.fetcher.forget(this);
    if (this.fast) this.fast.reads.detach(this.fast.fh);
    this.fast = undefined;
  }

  /**
   * A fetch that failed on the way (often a prefetch nobody waited for: a connection
   * reset in the middle of its body, a deadline) is tried once more for the read that
   * needs the block. Failures another try cannot mend are the read's error.
   */
  private refetch(err: unknown, index: number): Buffer | Promise<Buffer> {
    if (!(err instanceof StoreError) || !TRANSIENT.has(err.kind)) throw err;
    return this.fetcher.block(this.object, index);
  }

  /**
   * The read's wait for a block, cut at its deadline: the GETs go on (what they bring is
   * cached), the read fails with a Timeout (ETIMEDOUT) instead of waiting for a second
   * GET's own deadline or a free request slot.
   */
  private within(p: Promise<Buffer>, deadlineMs: number, startMs: number): Promise<Buffer> {
    if (deadlineMs <= 0) return p;
    const now = Date.now();
    const echo = now - this.timedOutAtMs < TIMEOUT_ECHO_MS;
    return withDeadline(p, echo ? 0 : startMs + deadlineMs - now, () => {
      if (!echo) this.timedOutAtMs = Date.now();
      return new StoreError('Timeout', `read did not finish within ${deadlineMs} ms`, {
        key: this.object.key,
        op: 'GetObject',
      });
    });
  }

  /** Next wake-up: once half of what is issued ahead of `end` has been read. */
  private rearm(end: number, ahead: number): void {
    if (!this.fast) return;
    const B = this.fetcher.blockBytes;
    const lastBlock = this.fetcher.blockCount(this.object) - 1;
    const trigger =
      ahead <= 0 || this.issuedTo >= lastBlock
        ? NO_TRIGGER
        : Math.max(end + 1, (this.issuedTo + 1) * B - Math.floor(ahead / 2));
    this.fast.reads.arm(this.fast.fh, trigger);
  }

  /**
   * Keeps `ahead` bytes past block `last` in flight, topping the window up only when
   * at least half of it (or one full request) is missing, so that prefetch goes out as
   * large ranged GETs rather than one block at a time.
   */
  private prefetch(last: number, ahead: number): void {
    if (ahead <= 0) {
      this.issuedTo = last; // a seek: start counting again from here
      return;
    }
    const B = this.fetcher.blockBytes;
    const windowBlocks = Math.ceil(ahead / B);
    const target = Math.min(this.fetcher.blockCount(this.object) - 1, last + windowBlocks);
    const from = Math.max(last + 1, this.issuedTo + 1);
    const minBatch = Math.max(1, Math.min(this.fetcher.requestBlocks, Math.floor(windowBlocks / 2)));
    if (
      target - from + 1 >= minBatch ||
      (target === this.fetcher.blockCount(this.object) - 1 && from <= target)
    ) {
      this.fetcher.ensure(this.object, from, target, true);
      this.issuedTo = target;
    }
  }
}
