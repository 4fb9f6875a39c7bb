import t from 'tap';
import { PrefetchBudget } from '../../../src/read/prefetch-budget.js';

const M = 1024 * 1024;

t.test('readers of different objects share the budget equally', async (t) => {
  const b = new PrefetchBudget(128 * M);
  const r = Array.from({ length: 8 }, () => ({}));
  t.equal(b.allow(r[0] as object, 64 * M, 'a', 0), 64 * M, 'one reader: what its window asks');
  for (let i = 1; i < 8; i++) b.allow(r[i] as object, 64 * M, `o${i}`, 0);
  t.equal(b.allow(r[0] as object, 64 * M, 'a', 0), 16 * M, 'eight streams: an eighth each');
  b.forget(r[7] as object);
  t.equal(
    b.allow(r[0] as object, 64 * M, 'a', 0),
    Math.floor((128 * M) / 7),
    'a closed reader gives its share back',
  );
  t.equal(b.allow(r[1] as object, 0, 'o1', 0), 0, 'a reader that stops prefetching gets nothing');
  t.equal(b.streams(64 * M), 6, 'and is no longer counted');
});

t.test('readers of one object version near each other are one stream (fan-in)', async (t) => {
  const b = new PrefetchBudget(128 * M);
  const r = Array.from({ length: 8 }, () => ({}));
  for (let i = 0; i < 8; i++) b.allow(r[i] as object, 64 * M, 'big\0etag1', 10 * M + i * M);
  t.equal(b.streams(64 * M), 1, '8 readers within a window: one stream');
  t.equal(
    b.allow(r[3] as object, 64 * M, 'big\0etag1', 13 * M),
    64 * M,
    'each may prefetch its whole window',
  );
  b.allow(r[7] as object, 64 * M, 'big\0etag1', 500 * M);
  t.equal(b.streams(64 * M), 2, 'one far ahead in the same object is a stream of its own');
  t.equal(
    b.allow(r[0] as object, 64 * M, 'big\0etag1', 10 * M),
    64 * M,
    'two streams: half each, the window fits',
  );
  b.allow(r[6] as object, 64 * M, 'big\0etag2', 16 * M);
  t.equal(b.streams(64 * M), 3, 'another version of the object at the same offset is another stream');
  t.equal(b.allow(r[0] as object, 64 * M, 'big\0etag1', 10 * M), Math.floor((128 * M) / 3), 'three shares');
});
