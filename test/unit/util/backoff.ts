// Backoff: ceilings double up to the maximum; full jitter stays in [0, ceiling], equal
// jitter in [ceiling/2, ceiling]; the ManualClock's sleep wakes only when time is moved on.
import t from 'tap';
import { backoffCeilingMs, equalJitterMs, fullJitterMs } from '../../../src/util/backoff.js';
import { ManualClock } from '../../../src/util/clock.js';

const P = { baseMs: 100, maxMs: 1000 };

t.test('ceilings double, capped', async (t) => {
  t.same(
    [1, 2, 3, 4, 5, 6, 50].map((n) => backoffCeilingMs(n, P)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  t.equal(backoffCeilingMs(0, P), 100, 'retry 0 is treated as the first');
});

t.test('jitter stays within its range', async (t) => {
  for (const n of [1, 2, 3, 4, 8]) {
    const c = backoffCeilingMs(n, P);
    t.equal(
      fullJitterMs(n, P, () => 0),
      0,
    );
    t.equal(
      fullJitterMs(n, P, () => 0.999999),
      c - 1,
    );
    t.equal(
      equalJitterMs(n, P, () => 0),
      c / 2,
    );
    t.ok(equalJitterMs(n, P, () => 0.999999) <= c);
    for (let i = 0; i < 100; i++) {
      const f = fullJitterMs(n, P);
      const e = equalJitterMs(n, P);
      if (f < 0 || f > c || e < c / 2 || e > c) t.fail(`out of range: ${f} ${e} for ${c}`);
    }
  }
});

t.test('ManualClock.sleep wakes when time is moved past it, in order', async (t) => {
  const clock = new ManualClock(1000);
  const woke: string[] = [];
  void clock.sleep(300).then(() => woke.push('b'));
  void clock.sleep(100).then(() => woke.push('a'));
  await clock.sleep(0);
  t.equal(clock.sleeping, 2);
  clock.advance(99);
  await Promise.resolve();
  t.same(woke, [], 'not yet');
  clock.advance(250);
  await new Promise((r) => setImmediate(r));
  t.same(woke, ['a', 'b'], 'both, in time order');
  t.equal(clock.nowMs(), 1349);
});
