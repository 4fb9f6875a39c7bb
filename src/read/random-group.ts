// RandomGroup: how much a read that is not sequential fetches around itself (aligned to
// its own size). Every miss of a random reader costs a round trip to the server plus the
// transfer, one at a time for a single reader; fetching about what one round trip's time
// could carry (first-byte latency × per-request throughput, both learnt from this
// mount's GETs) warms the cache in fewer round trips where they are long, without making
// a miss on a fast server fetch much more than it needs. Pure, unit-tested.

/** weight of the newest sample in the running averages */
const ALPHA = 0.25;
/** GETs smaller than this say little about throughput */
const MIN_THROUGHPUT_SAMPLE_BYTES = 512 * 1024;

export class RandomGroup {
  private latencyMs = 0;
  private bytesPerMs = 0;

  /** between `minBytes` and `maxBytes`, powers of two times `minBytes` */
  constructor(
    private readonly minBytes: number,
    private readonly maxBytes: number,
  ) {}

  /** One GET: ms until its first body byte, ms from then to its last, and its bytes. */
  record(firstByteMs: number, transferMs: number, bytes: number): void {
    this.latencyMs =
      this.latencyMs === 0 ? firstByteMs : this.latencyMs + ALPHA * (firstByteMs - this.latencyMs);
    if (bytes < MIN_THROUGHPUT_SAMPLE_BYTES) return;
    const rate = bytes / Math.max(transferMs, 0.1);
    this.bytesPerMs = this.bytesPerMs === 0 ? rate : this.bytesPerMs + ALPHA * (rate - this.bytesPerMs);
  }

  /** the group size now */
  get bytes(): number {
    const carry = this.latencyMs * this.bytesPerMs;
    let g = this.minBytes;
    while (g * 2 <= carry && g * 2 <= this.maxBytes) g *= 2;
    return g;
  }
}
