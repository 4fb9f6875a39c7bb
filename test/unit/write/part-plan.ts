import t from 'tap';
import { MAX_OBJECT_BYTES, MAX_PARTS, MIB, partSizeFor, planParts } from '../../../src/write/part-plan.js';

t.test('part size grows so 5 TiB fits in 10,000 parts', async (t) => {
  t.equal(partSizeFor(100 * MIB, 8 * MIB), 8 * MIB);
  t.equal(partSizeFor(100 * MIB, 1 * MIB), 5 * MIB, 'never below the 5 MiB S3 minimum');
  const big = partSizeFor(MAX_OBJECT_BYTES, 8 * MIB);
  t.ok(Math.ceil(MAX_OBJECT_BYTES / big) <= MAX_PARTS, '5 TiB in at most 10,000 parts');
  t.equal(big % MIB, 0, 'whole MiB');
});

t.test('parts cover the object exactly', async (t) => {
  const parts = planParts(12 * MIB + 1, 5 * MIB);
  t.same(
    parts.map((p) => [p.partNumber, p.start, p.end]),
    [
      [1, 0, 5 * MIB],
      [2, 5 * MIB, 10 * MIB],
      [3, 10 * MIB, 12 * MIB + 1],
    ],
  );
  t.same(planParts(0, 5 * MIB), []);
});
