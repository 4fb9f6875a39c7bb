import t from 'tap';
import { PrefetchWindow, REORDER_TOLERANCE_BYTES } from '../../../src/read/window.js';

const K = 128 * 1024;
const M = 1024 * 1024;

t.test('window grows while sequential and resets on a seek', async (t) => {
  const w = new PrefetchWindow(M, 64 * M);
  t.equal(w.onRead(0, K), M, 'first read at 0 prefetches the initial window');
  const seen: number[] = [];
  for (let i = 1; i <= 8; i++) seen.push(w.onRead(i * K, K));
  t.same(seen, [2 * M, 4 * M, 8 * M, 16 * M, 32 * M, 64 * M, 64 * M, 64 * M], 'doubles up to the max');
  t.equal(w.onRead(500 * M, K), 0, 'a seek stops prefetch');
  t.equal(w.currentBytes, M, 'and resets the window');
  t.equal(w.onRead(500 * M + K, K), 2 * M, 'sequential again: grows from the start size');
});

t.test('slightly reordered reads still count as sequential', async (t) => {
  const w = new PrefetchWindow(M, 8 * M);
  w.onRead(0, K);
  w.onRead(2 * K, K);
  t.ok(w.onRead(K, K) > 0, 'a read just behind the last one is reordering, not a seek');
  t.equal(w.onRead(3 * K + REORDER_TOLERANCE_BYTES + 2 * M, K), 0, 'far behind or ahead is a seek');
});

t.test('read-ahead 0 disables prefetch', async (t) => {
  const w = new PrefetchWindow(M, 0);
  t.equal(w.onRead(0, K), 0);
  t.equal(w.onRead(K, K), 0);
});

t.test('a first read in the middle does not prefetch', async (t) => {
  const w = new PrefetchWindow(M, 8 * M);
  t.equal(w.onRead(10 * M, 4096), 0);
});
