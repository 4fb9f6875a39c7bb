// The retry strategy on a fake clock, driven as the SDK's retry middleware drives it:
// which failures are retried, how long it waits (jittered, growing), the attempt limit,
// the shared budget, and that throttles slow every request through the shared limiter.
import t from 'tap';
import { AdaptiveRateLimiter } from '../../../src/s3/rate.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  MAX_THROTTLED_ATTEMPTS,
  RETRY_BACKOFF,
  RETRY_BUDGET_TOKENS,
  RETRY_COST,
  S3RetryStrategy,
  THROTTLE_BACKOFF,
  type RetryErrorInfo,
  type RetryToken,
} from '../../../src/s3/retry.js';
import { ManualClock } from '../../../src/util/clock.js';

const transient: RetryErrorInfo = { errorType: 'TRANSIENT', error: { name: 'Error', code: 'ECONNRESET' } };
const slowDown: RetryErrorInfo = {
  errorType: 'THROTTLING',
  error: { name: 'SlowDown', $metadata: { httpStatusCode: 503 } },
};
const denied: RetryErrorInfo = {
  errorType: 'CLIENT_ERROR',
  error: { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } },
};

function setup(random = () => 0.999) {
  const clock = new ManualClock(1_000_000);
  const limiter = new AdaptiveRateLimiter(clock);
  const s = new S3RetryStrategy({ limiter, clock, random });
  return { clock, limiter, s };
}

/** Runs `p` to its end, moving the fake clock on while it sleeps; how long that took on it. */
async function timed<T>(clock: ManualClock, p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = clock.nowMs();
  let done = false;
  let value!: T;
  let error: unknown;
  p.then(
    (v) => ((done = true), (value = v)),
    (e: unknown) => ((done = true), (error = e)),
  );
  while (!done) {
    await new Promise((r) => setImmediate(r));
    if (!done) clock.advance(1);
  }
  if (error !== undefined) throw error;
  return { value, ms: clock.nowMs() - t0 };
}

t.test('transient failures: retried with growing jittered waits, up to the attempt limit', async (t) => {
  const { clock, s } = setup();
  let token: RetryToken = await s.acquireInitialRetryToken('');
  const waits: number[] = [];
  for (let i = 1; i < DEFAULT_MAX_ATTEMPTS; i++) {
    const r = await timed(clock, s.refreshRetryTokenForRetry(token, transient));
    token = r.value;
    t.equal(token.getRetryCount(), i);
    t.equal(token.getRetryDelay(), 0, 'the strategy waited itself');
    waits.push(r.ms);
  }
  t.same(
    waits,
    [1, 2, 3].map((n) => Math.floor(0.999 * RETRY_BACKOFF.baseMs * 2 ** (n - 1))),
    'full jitter of 100, 200, 400 ms',
  );
  await t.rejects(s.refreshRetryTokenForRetry(token, transient), 'no retry past the attempt limit');
  t.equal(s.counters.retries, DEFAULT_MAX_ATTEMPTS - 1);
  s.recordSuccess(token);
});

t.test('a throttled request is tried more often, still a bounded number of times', async (t) => {
  const { clock, s } = setup(() => 0);
  let token: RetryToken = await s.acquireInitialRetryToken('');
  let retries = 0;
  for (;;) {
    try {
      token = (await timed(clock, s.refreshRetryTokenForRetry(token, slowDown))).value;
      retries++;
    } catch {
      break;
    }
  }
  t.equal(retries, MAX_THROTTLED_ATTEMPTS - 1, 'up to MAX_THROTTLED_ATTEMPTS attempts');
  t.ok(retries > DEFAULT_MAX_ATTEMPTS, 'more than after other failures');
  t.equal(s.counters.throttled, MAX_THROTTLED_ATTEMPTS);
});

t.test('a client error is not retried; nothing is spent', async (t) => {
  const { s } = setup();
  const token = await s.acquireInitialRetryToken('');
  await t.rejects(s.refreshRetryTokenForRetry(token, denied));
  t.equal(s.counters.retries, 0);
  t.equal(s.budgetLeft, RETRY_BUDGET_TOKENS);
});

t.test('the retry budget: spent by failures, refilled by successes, bounded', async (t) => {
  const { clock, s } = setup(() => 0);
  let retried = 0;
  let refused = 0;
  for (let i = 0; i < RETRY_BUDGET_TOKENS; i++) {
    const token = await s.acquireInitialRetryToken('');
    try {
      await timed(clock, s.refreshRetryTokenForRetry(token, transient));
      retried++;
    } catch {
      refused++;
    }
  }
  t.equal(retried, RETRY_BUDGET_TOKENS / RETRY_COST, 'as many retries as the budget pays for');
  t.equal(refused, RETRY_BUDGET_TOKENS - retried, 'then failures are final at once');
  t.equal(s.counters.budgetExhausted, refused);
  for (let i = 0; i < 10; i++) s.recordSuccess(await s.acquireInitialRetryToken(''));
  t.equal(s.budgetLeft, 10, 'each success gives a token back');
  const token = await s.acquireInitialRetryToken('');
  await timed(clock, s.refreshRetryTokenForRetry(token, transient));
  t.equal(s.budgetLeft, 10 - RETRY_COST);
});

t.test('a throttle slows every request of the mount, not just the one retried', async (t) => {
  const { clock, limiter, s } = setup(() => 0.5);
  // 50 requests a second are going out
  for (let i = 0; i < 100; i++) {
    s.recordSuccess(await s.acquireInitialRetryToken(''));
    clock.advance(20);
  }
  t.equal(limiter.ratePerS, undefined, 'unlimited');
  const throttled = await s.acquireInitialRetryToken('');
  const retry = timed(clock, s.refreshRetryTokenForRetry(throttled, slowDown));
  t.equal(s.counters.throttled, 1);
  t.equal(limiter.ratePerS, 25, 'half of the 50 a second sent');
  const r = await retry;
  t.ok(r.ms >= Math.floor(0.5 * THROTTLE_BACKOFF.baseMs), `the throttled request waited ${r.ms} ms`);
  // other requests, never throttled themselves, now go out paced
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const a = await timed(clock, s.acquireInitialRetryToken(''));
    starts.push(a.ms);
  }
  t.ok(
    starts.slice(1).every((ms) => ms >= 35),
    `first attempts of other requests are spaced (${starts.join(', ')} ms)`,
  );
  t.ok(limiter.counters.delayed >= 4, 'and counted as held back');
});
