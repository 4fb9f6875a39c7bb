// The native attribute table (native/fuse-native/s3m-attrs.h) against its model
// (test/fixtures/native/attr-model.ts): random puts, invalidations, FUSE-thread writes,
// clock steps and getattrs, compared after every one; then named cases.
import t from 'tap';
import { closeSync, openSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAT_INTS, TWO32 } from '../../../src/fuse/native.js';
import { AttrModel } from '../../fixtures/native/attr-model.js';
import { freshNative, loadTestBinding } from '../../fixtures/native/binding.js';
import { sequences } from '../../fixtures/native/differential.js';
import type { Rng } from '../../fixtures/random.js';

const b = loadTestBinding();
const LIMITS = b.s3m_test_limits();

const DIRS = ['/', '/d', '/d/', '/e/f'];
const NAMES = [
  'a',
  'b',
  'file.txt',
  'ü',
  '日本語',
  'x'.repeat(1022), // the longest name the C keeps (1,024-byte buffer with its NUL)
  'y'.repeat(1023), // one byte too long: skipped
  '😀'.repeat(255), // 1,020 bytes: kept
  '😀'.repeat(256), // 1,024 bytes: skipped (not cut to the 1,020 bytes above)
];
const PATHS = DIRS.flatMap((d) => NAMES.map((n) => (d.endsWith('/') ? d : `${d}/`) + n));

/** random stats whose 64-bit fields stay exact in a double */
function randomStats(rng: Rng, n: number): Uint32Array {
  const s = new Uint32Array(n * STAT_INTS);
  for (let i = 0; i < s.length; i++) s[i] = rng.int(TWO32);
  for (let k = 0; k < n; k++) for (const hi of [4, 11, 13, 15, 17]) s[k * STAT_INTS + hi] = rng.int(1 << 20);
  return s;
}

/** a staged file and a handle whose writes the C does: each one bumps the attribute generation */
function writeHandle(t: { teardown(fn: () => void): void }, fh: number): () => number | null {
  const dir = mkdtempSync(join(tmpdir(), 's3mount-native-attrs-'));
  const fd = openSync(join(dir, 'staged'), 'w+');
  t.teardown(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const id = b.s3m_wopen(fd, 0, 0);
  b.s3m_wattach(fh, id);
  return () => b.s3m_test_write(fh, Buffer.from('x'), 0);
}

void sequences(t, 'attribute table', { seeds: 5, ops: 300 }, (rng, log, t) => {
  let clock = 1000;
  const fast = freshNative(b, clock);
  const model = new AttrModel(LIMITS.attrMax, () => clock);
  const write = writeHandle(t, 9);
  return {
    step: () => {
      const op = rng.weighted({ put: 4, lookup: 5, invalidate: 1, clock: 2, write: 1 });
      switch (op) {
        case 'put': {
          const dir = rng.pick(DIRS);
          const names = Array.from({ length: rng.int(7) }, () => rng.pick(NAMES));
          const stats = randomStats(rng, Math.max(0, names.length - (rng.chance(0.1) ? 1 : 0)));
          const ttl = rng.pick([0, 1, 50, 1000, TWO32 + 5]);
          const gen = rng.chance(0.85) ? model.gen() : model.gen() - 1;
          log.add(
            `put ${dir} [${names.map((n) => Array.from(n).slice(0, 4).join('')).join(',')}] ttl=${ttl} gen=${gen}`,
          );
          log.same(
            'stored',
            fast.attrs.put(dir, names, stats, ttl, gen),
            model.put(dir, names, stats, ttl, gen),
          );
          break;
        }
        case 'lookup': {
          const path = rng.pick(PATHS);
          log.add(`getattr ${Array.from(path).slice(0, 12).join('')}`);
          log.same(
            `getattr ${Array.from(path).slice(0, 12).join('')}`,
            b.s3m_test_getattr(path),
            model.lookup(path),
          );
          break;
        }
        case 'invalidate':
          log.add('invalidate');
          fast.attrs.invalidate();
          model.invalidate();
          break;
        case 'clock':
          clock += rng.pick([0, 1, 10, 49, 50, 51, 999, 1000]);
          log.add(`clock ${clock}`);
          b.s3m_test_clock(clock, 1);
          break;
        case 'write':
          log.add('FUSE-thread write');
          log.same('write', write(), 1);
          model.written();
          break;
      }
      log.same('generation', fast.attrs.gen(), model.gen());
      log.same('entries held', b.s3m_test_attr_count(), model.entries.size);
    },
  };
});

t.test('entries live until their TTL, not a millisecond longer', async (t) => {
  const fast = freshNative(b, 5000);
  t.equal(fast.attrs.put('/d', ['a'], new Uint32Array(STAT_INTS).fill(1), 100, fast.attrs.gen()), 1);
  b.s3m_test_clock(5099, 1);
  t.ok(b.s3m_test_getattr('/d/a'), 'answered at 99 ms');
  b.s3m_test_clock(5100, 1);
  t.equal(b.s3m_test_getattr('/d/a'), null, 'goes to JavaScript at 100 ms');
});

t.test('a put with the generation from before a change stores nothing', async (t) => {
  const fast = freshNative(b);
  const gen = fast.attrs.gen();
  fast.attrs.invalidate();
  t.equal(fast.attrs.put('/d', ['a'], new Uint32Array(STAT_INTS), 1000, gen), 0);
  t.equal(b.s3m_test_getattr('/d/a'), null);
});

t.test('a write done on a FUSE thread makes every cached attribute stale', async (t) => {
  const fast = freshNative(b);
  const write = writeHandle(t, 3);
  fast.attrs.put('/', ['a'], new Uint32Array(STAT_INTS), 1000, fast.attrs.gen());
  t.ok(b.s3m_test_getattr('/a'), 'cached');
  t.equal(write(), 1, 'the write is done in C');
  t.equal(b.s3m_test_getattr('/a'), null, 'getattr goes to JavaScript, which sees the new size');
});

t.test('the table empties itself when full, and on an invalidation when over half full', async (t) => {
  const fast = freshNative(b);
  const names = Array.from({ length: LIMITS.attrMax }, (_, i) => `n${i}`);
  const stats = new Uint32Array(names.length * STAT_INTS);
  t.equal(fast.attrs.put('/', names, stats, 1000, fast.attrs.gen()), LIMITS.attrMax);
  t.equal(b.s3m_test_attr_count(), LIMITS.attrMax);
  fast.attrs.put('/', ['one-more'], stats, 1000, fast.attrs.gen());
  t.equal(b.s3m_test_attr_count(), 1, 'emptied, then the new entry');
  t.ok(b.s3m_test_getattr('/one-more'));
  fast.attrs.invalidate();
  t.equal(b.s3m_test_attr_count(), 1, 'under half full: kept (stale) on invalidation');
});

t.test(
  'regression: a name too long for the C buffer in multi-byte characters is skipped, not cut short',
  async (t) => {
    // 256 four-byte characters are 1,024 bytes; cut at the 1,024-byte buffer they were the
    // 255-character name, a different (maybe existing) file that got this one's stat
    const fast = freshNative(b);
    const long = '😀'.repeat(256);
    t.equal(fast.attrs.put('/d', [long], new Uint32Array(STAT_INTS).fill(7), 1000, fast.attrs.gen()), 0);
    t.equal(b.s3m_test_getattr(`/d/${'😀'.repeat(255)}`), null, 'no entry under the shortened name');
    t.equal(b.s3m_test_attr_count(), 0);
  },
);
