// The adaptive rate limiter on a fake clock: unlimited until a throttle; a throttle
// halves the rate sent at (once per burst), paced sends wait; calm brings it back to
// unlimited; it never drops below its floor.
import t from 'tap';
import { AdaptiveRateLimiter, DEFAULT_RATE_LIMITER } from '../../../src/s3/rate.js';
import { ManualClock } from '../../../src/util/clock.js';

t.test('unlimited until the server says slow down', async (t) => {
  const clock = new ManualClock(10_000);
  const l = new AdaptiveRateLimiter(clock);
  for (let i = 0; i < 100; i++) t.equal(l.reserve(), 0);
  t.equal(l.ratePerS, undefined);
  t.equal(l.counters.delayed, 0);
  l.onSuccess();
  t.equal(l.ratePerS, undefined, 'successes change nothing while unlimited');
});

t.test('a throttle halves the rate being sent at; a burst of them counts once', async (t) => {
  const clock = new ManualClock(10_000);
  const l = new AdaptiveRateLimiter(clock);
  // 40 requests a second for two seconds
  for (let s = 0; s < 2; s++)
    for (let i = 0; i < 40; i++) {
      l.reserve();
      clock.advance(25);
    }
  for (let i = 0; i < 32; i++) l.onThrottle(); // 32 answers to requests sent together
  t.equal(l.counters.throttles, 32);
  t.equal(l.counters.decreases, 1, 'one decrease for the burst');
  t.equal(l.ratePerS, 20, 'half the measured 40/s');
  // paced: 20/s is one every 50 ms
  const waits = Array.from({ length: 5 }, () => l.reserve());
  t.same(waits, [0, 50, 100, 150, 200], 'sends are spaced');
  t.equal(l.counters.delayed, 4);
  t.equal(l.counters.delayedMs, 500);
  clock.advance(DEFAULT_RATE_LIMITER.decreaseSpacingMs);
  l.onThrottle();
  t.equal(l.ratePerS, 10, 'a later throttle halves again');
  t.equal(l.lowestPerS, 10);
});

t.test('never below the floor; calm brings it back to unlimited', async (t) => {
  const clock = new ManualClock(0);
  const l = new AdaptiveRateLimiter(clock);
  for (let i = 0; i < 30; i++) {
    l.onThrottle();
    clock.advance(DEFAULT_RATE_LIMITER.decreaseSpacingMs);
  }
  t.equal(l.ratePerS, DEFAULT_RATE_LIMITER.minPerS, 'the floor');
  l.onSuccess();
  t.equal(l.ratePerS, DEFAULT_RATE_LIMITER.minPerS, 'not within calmMs of the last throttle');
  clock.advance(DEFAULT_RATE_LIMITER.calmMs);
  let steps = 0;
  while (l.ratePerS !== undefined && steps < 1000) {
    const before = l.ratePerS;
    l.onSuccess();
    l.onSuccess(); // twice within the spacing: one increase
    t.ok(l.ratePerS === undefined || l.ratePerS === before * DEFAULT_RATE_LIMITER.increaseFactor);
    clock.advance(DEFAULT_RATE_LIMITER.increaseSpacingMs);
    steps++;
  }
  t.equal(l.ratePerS, undefined, `unlimited again after ${steps} steps`);
  t.ok(steps < 40, 'within a few seconds of calm');
  t.equal(l.reserve(), 0, 'no waiting once unlimited');
  l.onThrottle();
  t.ok(l.ratePerS !== undefined, 'a new throttle limits again');
});
