// RandomGroup: how much a read that is not sequential fetches around itself (aligned to
// its own size). Two things bound it:
//  - round trips: every miss of a random reader costs a round trip plus the transfer, one
//    at a time for a single reader; fetching about what one round trip's time could carry
//    (first-byte latency × per-request throughput, both learnt from this mount's GETs)
//    warms the cache in fewer round trips where they are long;
//  - the hit rate of what was fetched around earlier misses: the block cache counts the
//    blocks fetched ahead that were read before eviction ("used") and those evicted
//    unread ("wasted"). When most are wasted (random reads over an object far larger than
//    the cache), the group shrinks to the block that was asked for; when they are read,
//    it grows back. Pure, unit-tested.

/**
 * a read that is not sequential fetches this much around itself while nothing is known
 * (less, down to its own block, when what is fetched around misses goes unread; more when
 * round trips are long: below)...
 */
export const RANDOM_READ_GROUP_START_BYTES = 1024 * 1024;
/** ...and at most this much */
export const RANDOM_READ_GROUP_MAX_BYTES = 8 * 1024 * 1024;
/** weight of the newest sample in the running averages of latency and throughput */
const ALPHA = 0.25;
/** weight of each block's outcome in the running average of the fraction used */
const USE_ALPHA = 1 / 32;
/** outcomes needed before the fraction used bounds the group (until then: round trips alone) */
export const MIN_OUTCOMES = 32;
/** GETs smaller than this say little about throughput */
const MIN_THROUGHPUT_SAMPLE_BYTES = 512 * 1024;
/**
 * When the groups have shrunk to one block, nothing is fetched ahead and nothing more is
 * learnt: every this many misses one fetches twice as much, to see whether it is read.
 */
export const PROBE_EVERY_MISSES = 16;

export class RandomGroup {
  private latencyMs = 0;
  private bytesPerMs = 0;
  /** running fraction of the blocks fetched ahead that were read (once MIN_OUTCOMES are in) */
  private used = 1;
  private outcomes = 0;
  private seen = { used: 0, wasted: 0 };
  private misses = 0;
  /** until MIN_OUTCOMES are in: the fraction expected to be read (set by `expect`) */
  private prior: number | undefined;

  /**
   * Groups are powers of two times `blockBytes`, at most `maxBytes`; `startBytes` is the
   * least the round-trip bound asks for (the group while nothing is known).
   */
  constructor(
    private readonly blockBytes: number,
    private readonly startBytes: number,
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

  /**
   * The block cache's running totals of blocks fetched ahead and read (`used`) or evicted
   * unread (`wasted`); only what changed since the last call counts.
   */
  observe(usedTotal: number, wastedTotal: number): void {
    const used = Math.max(0, usedTotal - this.seen.used);
    const wasted = Math.max(0, wastedTotal - this.seen.wasted);
    this.seen = { used: usedTotal, wasted: wastedTotal };
    const n = used + wasted;
    if (n === 0) return;
    const f = used / n;
    // the first outcomes start the average; later ones move it n steps towards their
    // mean (in closed form)
    if (this.outcomes === 0) this.used = f;
    else this.used = f + (this.used - f) * Math.pow(1 - USE_ALPHA, n);
    this.outcomes += n;
  }

  /** the fraction of blocks fetched ahead that were read, as learnt so far (undefined: too few) */
  get usedFraction(): number | undefined {
    return this.outcomes >= MIN_OUTCOMES ? this.used : undefined;
  }

  /**
   * What to expect while too few outcomes are known: about `fraction` of what is fetched
   * ahead read before eviction (the cache's share of the object being read at random).
   * undefined: no expectation (round trips alone).
   */
  expect(fraction: number | undefined): void {
    this.prior = fraction;
  }

  /** the group size now */
  get bytes(): number {
    const carry = this.latencyMs * this.bytesPerMs;
    let byTrips = Math.max(this.blockBytes, Math.min(this.startBytes, this.maxBytes));
    while (byTrips * 2 <= carry && byTrips * 2 <= this.maxBytes) byTrips *= 2;
    const used = this.outcomes >= MIN_OUTCOMES ? this.used : this.prior;
    if (used === undefined) return byTrips;
    // a group of g blocks fetches g - 1 ahead: worth it while about 1 - 1/g of them are read
    const wanted = 1 / Math.max(1e-6, 1 - used);
    let byUse = this.blockBytes;
    while (byUse * 2 <= this.blockBytes * wanted && byUse * 2 <= this.maxBytes) byUse *= 2;
    return Math.min(byTrips, byUse);
  }

  /** The group for the next miss: `bytes`, or twice that now and then when it is one block. */
  forMiss(): number {
    const g = this.bytes;
    this.misses++;
    if (g === this.blockBytes && this.misses % PROBE_EVERY_MISSES === 0)
      return Math.min(this.maxBytes, 2 * g);
    return g;
  }
}
