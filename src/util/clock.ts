// Clock: injected time source so TTL logic is testable without sleeping; with sleep(),
// so backoff and rate limiting are testable with a clock the test moves (ManualClock).

export interface Clock {
  nowMs(): number;
}

/** A clock that can also wait: what retries and the rate limiter use. */
export interface SleepClock extends Clock {
  /** resolves once `ms` have passed on this clock */
  sleep(ms: number): Promise<void>;
}

export const systemClock: SleepClock = {
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class ManualClock implements SleepClock {
  private sleepers: { at: number; wake: () => void }[] = [];

  constructor(private t = 0) {}

  nowMs(): number {
    return this.t;
  }

  /** Moves time on, waking the sleepers whose time has come (in time order). */
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.at <= this.t).sort((a, b) => a.at - b.at);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.wake();
  }

  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((wake) => this.sleepers.push({ at: this.t + ms, wake }));
  }

  /** sleeps not yet woken */
  get sleeping(): number {
    return this.sleepers.length;
  }
}
