import t from 'tap';
import { RandomGroup } from '../../../src/read/random-group.js';

const MiB = 1024 * 1024;

t.test('the random-read group is what one round trip could carry, within bounds', async (t) => {
  const g = new RandomGroup(MiB, 8 * MiB);
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
  const small = new RandomGroup(MiB, 8 * MiB);
  for (let i = 0; i < 10; i++) small.record(50, 0, 4096);
  t.equal(small.bytes, MiB, 'small GETs alone teach no throughput: the minimum');
});
