import t from 'tap';
import { PartBuffers } from '../../../src/write/part-buffers.js';

t.test('part memory is reused, bounded, and larger parts get their own', async (t) => {
  const parts = new PartBuffers(2, 1024);
  const seen: ArrayBuffer[] = [];
  for (let i = 0; i < 3; i++)
    await parts.run(1000 - i, async (buf) => {
      t.equal(buf.length, 1000 - i);
      seen.push(buf.buffer as ArrayBuffer);
    });
  t.ok(
    seen.every((b) => b === seen[0]),
    'one allocation for parts one after another',
  );

  let running = 0;
  let most = 0;
  const bufs = new Set<ArrayBuffer>();
  await Promise.all(
    Array.from({ length: 6 }, () =>
      parts.run(512, async (buf) => {
        running++;
        most = Math.max(most, running);
        bufs.add(buf.buffer as ArrayBuffer);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      }),
    ),
  );
  t.equal(most, 2, 'at most two parts in memory at once');
  t.equal(bufs.size, 2, 'two buffers in all');

  const big = await parts.run(4096, async (buf) => buf.buffer);
  t.notOk(bufs.has(big as ArrayBuffer), 'a part larger than the slot size is not pooled');
  await t.rejects(
    parts.run(10, async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  await parts.run(10, async (buf) =>
    t.ok(bufs.has(buf.buffer as ArrayBuffer), 'a failed job gives its memory back'),
  );
});
