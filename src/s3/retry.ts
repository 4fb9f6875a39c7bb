// S3RetryStrategy: how a failed attempt of an S3 request is retried, in the shape the
// SDK's retry middleware takes (its RetryStrategyV2): a few attempts with jittered
// exponential backoff (more for throttled answers), paid from a retry budget the whole mount shares, every attempt
// (first ones too) paced by the shared AdaptiveRateLimiter. The call's deadline
// (--request-timeout) bounds it all: the SDK races these waits with the call's abort
// signal, so no request waits here past it.
import { fullJitterMs, type BackoffPolicy } from '../util/backoff.js';
import type { SleepClock } from '../util/clock.js';
import type { AdaptiveRateLimiter } from './rate.js';

/** attempts of one request that fails (network, timeout, 5xx): the first and up to 3 retries */
export const DEFAULT_MAX_ATTEMPTS = 4;
/**
 * attempts of one request the server keeps throttling: a "slow down" says the server is
 * there and busy; with every request paced by the limiter, trying again does not add to
 * its load, and giving up would fail the user's operation in the middle of a storm
 */
export const MAX_THROTTLED_ATTEMPTS = 12;
/** network failures, timeouts and 5xx: retried after up to 100 ms, 200 ms, 400 ms */
export const RETRY_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 5_000 };
/**
 * throttled answers: after up to 200 ms, 400 ms, 800 ms ... 2 s; the rate limiter spaces
 * all requests besides, so this only keeps the throttled request from going again at once
 */
export const THROTTLE_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 2_000 };

/**
 * The retry budget, after the AWS SDKs' retry quota: a retry takes tokens, a success
 * gives some back. While the server keeps failing, the budget runs out and requests fail
 * at their first error instead of tripling the load on a server already in trouble.
 */
export const RETRY_BUDGET_TOKENS = 500;
export const RETRY_COST = 5;
/** a timeout held a connection for long: it costs more */
export const TIMEOUT_RETRY_COST = 10;
/** throttling is answered by pacing (the limiter): a retry of it costs little */
export const THROTTLE_RETRY_COST = 1;
/** what a success without retries gives back */
export const SUCCESS_REFUND = 1;

/** What the SDK tells the strategy of a failed attempt. */
export interface RetryErrorInfo {
  errorType: 'TRANSIENT' | 'THROTTLING' | 'SERVER_ERROR' | 'CLIENT_ERROR';
  error?: unknown;
}

export class RetryToken {
  constructor(
    private readonly count: number,
    private readonly cost: number,
    /** retries after failures other than throttling */
    readonly failures = 0,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  /** the waiting is done in the strategy (on its clock): none left for the SDK */
  getRetryDelay(): number {
    return 0;
  }
  getRetryCost(): number {
    return this.cost;
  }
}

export interface RetryCounters {
  retries: number;
  throttled: number;
  /** retries refused because the budget was spent */
  budgetExhausted: number;
}

export interface RetryStrategyOptions {
  limiter: AdaptiveRateLimiter;
  clock: SleepClock;
  maxAttempts?: number;
  random?: () => number;
}

export class S3RetryStrategy {
  /** the SDK shows it in its user agent */
  readonly mode = 's3mount';
  readonly counters: RetryCounters = { retries: 0, throttled: 0, budgetExhausted: 0 };
  private budget = RETRY_BUDGET_TOKENS;
  private readonly maxAttempts: number;
  private readonly random: () => number;

  constructor(private readonly o: RetryStrategyOptions) {
    this.maxAttempts = o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.random = o.random ?? Math.random;
  }

  get budgetLeft(): number {
    return this.budget;
  }

  get limiter(): AdaptiveRateLimiter {
    return this.o.limiter;
  }

  /** Before the first attempt: wait for the pace. */
  async acquireInitialRetryToken(_scope: string): Promise<RetryToken> {
    await this.o.clock.sleep(this.o.limiter.reserve());
    return new RetryToken(0, 0);
  }

  /** After a failed attempt: a token for the next one (after its wait), or a throw: no retry. */
  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const throttled = isThrottle(info);
    if (throttled) {
      this.counters.throttled++;
      this.o.limiter.onThrottle();
    }
    const attempt = token.getRetryCount() + 1;
    const failures = token.failures + (throttled ? 0 : 1);
    if (
      throttled
        ? attempt >= MAX_THROTTLED_ATTEMPTS
        : info.errorType !== 'TRANSIENT' || failures >= this.maxAttempts
    )
      throw new Error('not retried');
    const cost = throttled ? THROTTLE_RETRY_COST : isTimeout(info.error) ? TIMEOUT_RETRY_COST : RETRY_COST;
    if (this.budget < cost) {
      this.counters.budgetExhausted++;
      throw new Error('retry budget spent');
    }
    this.budget -= cost;
    this.counters.retries++;
    const n = throttled ? attempt : failures;
    await this.o.clock.sleep(fullJitterMs(n, throttled ? THROTTLE_BACKOFF : RETRY_BACKOFF, this.random));
    await this.o.clock.sleep(this.o.limiter.reserve());
    return new RetryToken(attempt, cost, failures);
  }

  recordSuccess(token: RetryToken): void {
    this.o.limiter.onSuccess();
    const back = token.getRetryCost() > 0 ? token.getRetryCost() : SUCCESS_REFUND;
    this.budget = Math.min(RETRY_BUDGET_TOKENS, this.budget + back);
  }
}

function statusOf(err: unknown): number | undefined {
  const m = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return m?.httpStatusCode;
}

/** 503 (SlowDown, or a plain Service Unavailable) and 429 mean "slow down" whatever the code */
function isThrottle(info: RetryErrorInfo): boolean {
  const status = statusOf(info.error);
  return info.errorType === 'THROTTLING' || status === 503 || status === 429;
}

function isTimeout(err: unknown): boolean {
  const e = (err ?? {}) as { name?: string; code?: string };
  return e.name === 'TimeoutError' || e.code === 'ETIMEDOUT';
}
