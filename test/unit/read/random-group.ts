import t from 'tap';
import { MIN_OUTCOMES, PROBE_EVERY_MISSES, RandomGroup } from '../../../src/read/random-group.js';

const MiB = 1024 * 1024;

t.test('the random-read group is what one round trip could carry, within bounds', async (t) => {
  const g = new RandomGroup(MiB, MiB, 8 * MiB);
  t.equal(g.bytes, MiB, 'nothing learnt yet: the minimum');
  // loopback-like: 3 ms to the first byte, 1 MiB in 4 ms (262 KB/ms): carries 0.79 MB
  for (let i = 0; i < 10; i++) g.record(3, 4, MiB);
  t.equal(g.bytes, MiB, 'short round trips keep the minimum');
  // 10 ms more per round trip: 13 ms × 262 KB/ms = 3.4 MB → 2 MiB (powers of two, rounded down)
  for (let i = 0; i < 30; i++) g.record(13, 4, MiB);
  t.equal(g.bytes, 2 * MiB);
  for (let i = 0; i < 30; i++) g.record(40, 4, MiB);
  t.equal(g.bytes, 8 * MiB, 'long round trips: up to the maximum');
  for (let i = 0; i < 30; i++) g.record(400, 4, MiB);
  t.equal(g.bytes, 8 * MiB, 'never beyond it');
  for (let i = 0; i < 30; i++) g.record(3, 4, MiB);
  t.equal(g.bytes, MiB, 'and back when round trips get short again');
  const small = new RandomGroup(MiB, MiB, 8 * MiB);
  for (let i = 0; i < 10; i++) small.record(50, 0, 4096);
  t.equal(small.bytes, MiB, 'small GETs alone teach no throughput: the minimum');
});

t.test(
  'blocks fetched around misses and left unread shrink the group to one block; read ones grow it',
  async (t) => {
    const B = 256 * 1024;
    const g = new RandomGroup(B, MiB, 8 * MiB);
    for (let i = 0; i < 10; i++) g.record(40, 4, MiB); // long round trips: 8 MiB by themselves
    t.equal(g.bytes, 8 * MiB, 'nothing learnt about use yet: round trips alone');
    g.observe(0, MIN_OUTCOMES - 1);
    t.equal(g.bytes, 8 * MiB, `fewer than ${MIN_OUTCOMES} outcomes do not count`);
    t.equal(g.usedFraction, undefined);
    g.observe(0, MIN_OUTCOMES);
    t.equal(g.usedFraction, 0, 'all wasted');
    t.equal(g.bytes, B, 'one block: nothing fetched ahead');
    // blocks read: the fraction climbs, the group with it (g blocks while about 1 - 1/g are read)
    let used = 0;
    const wasted = MIN_OUTCOMES;
    const sizes: number[] = [];
    for (let i = 0; i < 12; i++) {
      used += 16;
      g.observe(used, wasted);
      sizes.push(g.bytes);
    }
    t.ok(
      sizes.every((s, i) => i === 0 || s >= (sizes[i - 1] as number)),
      `grows steadily: ${sizes.map((s) => s / 1024).join(' ')} KiB`,
    );
    t.equal(sizes.at(-1), 8 * MiB, 'up to what the round trips allow');
    g.observe(used, wasted + 400);
    t.equal(g.bytes, B, 'and down again when they go unread');
    t.equal(g.observe(used, wasted + 400), undefined, 'totals seen before count once');
    t.equal(g.bytes, B);
  },
);

t.test('at one block, every so often a miss fetches two, so that use can still be learnt', async (t) => {
  const B = 256 * 1024;
  const g = new RandomGroup(B, MiB, 8 * MiB);
  g.observe(0, 100);
  const groups = Array.from({ length: 4 * PROBE_EVERY_MISSES }, () => g.forMiss());
  t.equal(groups.filter((x) => x === 2 * B).length, 4, 'one probe of two blocks per period');
  t.equal(groups.filter((x) => x === B).length, 4 * PROBE_EVERY_MISSES - 4, 'the rest one block');
  const fresh = new RandomGroup(B, MiB, 8 * MiB);
  t.same(
    new Set(Array.from({ length: 40 }, () => fresh.forMiss())),
    new Set([MiB]),
    'no probes above one block',
  );
});
