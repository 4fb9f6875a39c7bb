// AdaptiveRateLimiter: the pace of the whole mount's S3 requests (reads, listings,
// uploads together). Unlimited until the server says it is overloaded (503 SlowDown,
// 429); then every request is spaced to a rate that halves at each such answer and
// grows back while answers succeed, until it is unlimited again. One request being told
// to slow down slows them all: retrying just that one would leave the load as it was.
import type { Clock } from '../util/clock.js';

export interface RateLimiterOptions {
  /** the rate never drops below this: the mount keeps working, only slower */
  minPerS: number;
  /** a throttle multiplies the rate by this */
  decreaseFactor: number;
  /** throttles within this long of a decrease are the same signal (requests sent together) */
  decreaseSpacingMs: number;
  /** the rate grows only after this long without a throttle... */
  calmMs: number;
  /** ...by this factor at most once per `increaseSpacingMs` of successful answers */
  increaseFactor: number;
  increaseSpacingMs: number;
  /** above this the limit is lifted */
  unlimitedAbovePerS: number;
}

export const DEFAULT_RATE_LIMITER: RateLimiterOptions = {
  // at 2 requests a second a request queued behind 100 others still goes out within
  // the default --request-timeout (60 s)
  minPerS: 2,
  decreaseFactor: 0.5,
  // a burst of 32 requests answered 503 at once halves the rate once, not 32 times
  decreaseSpacingMs: 500,
  calmMs: 1000,
  // from the floor back to unlimited in about 8 s of calm: 1.25^28 > 1000 / 2
  increaseFactor: 1.25,
  increaseSpacingMs: 250,
  unlimitedAbovePerS: 1000,
};

export interface RateCounters {
  /** sends reserved (first attempts and retries) */
  sent: number;
  /** answers that said slow down */
  throttles: number;
  /** times the rate was lowered */
  decreases: number;
  /** sends that had to wait for the pace, and how long they waited in all */
  delayed: number;
  delayedMs: number;
}

export class AdaptiveRateLimiter {
  readonly counters: RateCounters = { sent: 0, throttles: 0, decreases: 0, delayed: 0, delayedMs: 0 };
  /** requests a second; undefined while unlimited */
  private rate: number | undefined;
  /** the lowest rate since the mount started (reports) */
  private lowest: number | undefined;
  /** when the next paced send may go */
  private nextSendMs = 0;
  private lastDecreaseMs = Number.NEGATIVE_INFINITY;
  private lastThrottleMs = Number.NEGATIVE_INFINITY;
  private lastIncreaseMs = Number.NEGATIVE_INFINITY;
  /** sends in the current and the previous whole second: the rate sent at when a throttle comes */
  private second = Number.NEGATIVE_INFINITY;
  private thisSecond = 0;
  private lastSecond = 0;

  constructor(
    private readonly clock: Clock,
    private readonly o: RateLimiterOptions = DEFAULT_RATE_LIMITER,
  ) {}

  /** The current limit in requests a second; undefined while unlimited. */
  get ratePerS(): number | undefined {
    return this.rate;
  }

  get lowestPerS(): number | undefined {
    return this.lowest;
  }

  /** Books the next send: how long to wait before sending it (0: at once). */
  reserve(): number {
    const now = this.clock.nowMs();
    this.count(now);
    this.counters.sent++;
    if (this.rate === undefined) return 0;
    const at = Math.max(now, this.nextSendMs);
    this.nextSendMs = at + 1000 / this.rate;
    const wait = at - now;
    if (wait > 0) {
      this.counters.delayed++;
      this.counters.delayedMs += wait;
    }
    return wait;
  }

  /** The server answered "slow down". */
  onThrottle(): void {
    const now = this.clock.nowMs();
    this.counters.throttles++;
    this.lastThrottleMs = now;
    if (now - this.lastDecreaseMs < this.o.decreaseSpacingMs) return;
    const from = this.rate ?? Math.max(this.o.minPerS, this.measured(now));
    this.rate = Math.max(this.o.minPerS, from * this.o.decreaseFactor);
    this.lowest = Math.min(this.lowest ?? this.rate, this.rate);
    this.lastDecreaseMs = now;
    this.counters.decreases++;
  }

  /** An answer that was not a throttle. */
  onSuccess(): void {
    if (this.rate === undefined) return;
    const now = this.clock.nowMs();
    if (now - this.lastThrottleMs < this.o.calmMs || now - this.lastIncreaseMs < this.o.increaseSpacingMs)
      return;
    this.lastIncreaseMs = now;
    this.rate *= this.o.increaseFactor;
    if (this.rate > this.o.unlimitedAbovePerS) {
      this.rate = undefined;
      this.nextSendMs = 0;
    }
  }

  private roll(now: number): void {
    const second = Math.floor(now / 1000);
    if (second === this.second) return;
    this.lastSecond = second === this.second + 1 ? this.thisSecond : 0;
    this.thisSecond = 0;
    this.second = second;
  }

  private count(now: number): void {
    this.roll(now);
    this.thisSecond++;
  }

  /** requests a second sent lately: the busier of this second so far and the last one */
  private measured(now: number): number {
    this.roll(now);
    return Math.max(this.thisSecond, this.lastSecond);
  }
}
