// HashThreads: the same digests as node:crypto on this thread, for shared memory (part
// buffers) and ordinary buffers, big and small; a stream hashes its pieces in order; a
// thread that is gone leaves one-shot hashes made here and a stream's digest unknown.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { HashThreads } from '../../../src/util/hash-threads.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function shared(bytes: Buffer): Buffer {
  const out = Buffer.from(new SharedArrayBuffer(bytes.length));
  bytes.copy(out);
  return out;
}

t.test('one-shot hashes: the digests node:crypto gives', async (t) => {
  const threads = new HashThreads(2);
  t.teardown(() => threads.close());
  for (const size of [0, 1000, 3 << 20]) {
    const plain = randomBytes(size);
    for (const [what, bytes] of [
      ['plain', plain],
      ['shared', shared(plain)],
      ['a view into shared memory', shared(Buffer.concat([randomBytes(7), plain])).subarray(7)],
    ] as const) {
      t.same(await threads.md5(bytes), md5(plain), `md5, ${size} bytes, ${what}`);
      t.equal(await threads.sha256(bytes), sha(plain), `sha256, ${size} bytes, ${what}`);
    }
  }
  const many = await Promise.all(
    Array.from({ length: 8 }, () => randomBytes(1 << 20)).map(
      async (b) => [b, await threads.md5(shared(b))] as const,
    ),
  );
  t.ok(
    many.every(([b, d]) => d.equals(md5(b))),
    'eight at once, each its own',
  );
});

t.test('a stream hashes its pieces in the order they were sent', async (t) => {
  const threads = new HashThreads(2);
  t.teardown(() => threads.close());
  const pieces = Array.from({ length: 5 }, (_, i) => randomBytes(((i + 1) << 19) + i));
  const s = threads.stream();
  const buf = Buffer.from(new SharedArrayBuffer(4 << 20));
  for (const p of pieces) {
    p.copy(buf);
    await s.update(buf.subarray(0, p.length)); // the buffer is reused once update resolves
  }
  t.equal(await s.digest(), sha(Buffer.concat(pieces)), 'the SHA-256 of all pieces');
  const empty = threads.stream();
  t.equal(await empty.digest(), sha(Buffer.alloc(0)), 'no piece: the empty SHA-256');
  const dropped = threads.stream();
  await dropped.update(pieces[0] as Buffer);
  dropped.discard();
  await dropped.update(pieces[1] as Buffer); // after discard: not sent
  t.pass('a discarded stream takes pieces without error');
});

t.test('threads gone: one-shot hashes are made here, a stream says it does not know', async (t) => {
  const threads = new HashThreads(1);
  const s = threads.stream();
  await s.update(randomBytes(1 << 20));
  await threads.close();
  const big = randomBytes(1 << 20);
  t.same(await threads.md5(big), md5(big), 'md5 still right');
  t.equal(await threads.sha256(big), sha(big), 'sha256 still right');
  await s.update(randomBytes(10));
  t.equal(await s.digest(), undefined, 'the stream: unknown');
});
