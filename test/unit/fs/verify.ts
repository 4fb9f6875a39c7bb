// `s3mount verify` in the core (src/fs/verify.ts): files written through the mount verify
// OK; bytes changed behind the mount's back are a MISMATCH; objects without a stored
// checksum, files not uploaded yet, symlinks and missing paths each say so. And an upload
// answered with a wrong ETag fails close() and stays staged until it is uploaded right.
import t from 'tap';
import { readdir } from 'node:fs/promises';
import { CHECKSUM_METADATA } from '../../../src/write/checksum.js';
import { errnoOf, pattern, testCore, writeFile } from '../../fixtures/core.js';
import { FaultyObjectStore } from '../../fixtures/faulty-store.js';
import { eventually, sha256 } from '../../fixtures/helpers.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const KiB = 1024;
const stagedCount = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.data')).length;

t.test(
  'verify: OK, MISMATCH, NO-CHECKSUM, STAGED, skipped symlinks, errors; directories recursively',
  async (t) => {
    const memory = new MemoryObjectStore();
    const store = new FaultyObjectStore(memory);
    const core = await testCore(t, { store });
    const { fs, verifier } = core;
    await fs.mkdir('/d', 0o755);
    await fs.mkdir('/d/sub', 0o755);
    const a = pattern(70 * KiB, 1);
    await writeFile(fs, '/d/a.bin', a);
    await writeFile(fs, '/d/sub/b.bin', pattern(10 * KiB, 2));
    await writeFile(fs, '/d/empty', Buffer.alloc(0));
    await writeFile(fs, '/d/tampered', pattern(5 * KiB, 3));
    await fs.symlink('a.bin', '/d/link');
    t.equal(
      memory.objects.get('d/a.bin')?.metadata[CHECKSUM_METADATA],
      sha256(a),
      'the upload stored the SHA-256',
    );

    // another client rewrites the bytes and keeps the metadata
    const old = memory.objects.get('d/tampered');
    memory.putBytes('d/tampered', pattern(5 * KiB, 4), old?.metadata);
    // and puts an object without it
    memory.putBytes('d/foreign', 'from another client');
    // a file whose upload fails stays staged
    store.failAlways('put');
    t.equal(await errnoOf(writeFile(fs, '/d/pending', pattern(3 * KiB, 5))), 'EIO');

    const byPath = Object.fromEntries((await verifier.verify(['/d'])).map((e) => [e.path, e.status]));
    t.same(byPath, {
      '/d/a.bin': 'ok',
      '/d/empty': 'ok',
      '/d/foreign': 'no-checksum',
      '/d/link': 'skipped',
      '/d/pending': 'staged',
      '/d/sub/b.bin': 'ok',
      '/d/tampered': 'mismatch',
    });
    const one = await verifier.verify(['/d/tampered', '/d/missing', '/d/pending', '/d/a.bin']);
    t.same(
      one.map((e) => [e.path, e.status]),
      [
        ['/d/a.bin', 'ok'],
        ['/d/missing', 'error'],
        ['/d/pending', 'staged'],
        ['/d/tampered', 'mismatch'],
      ],
    );
    t.match(
      one.find((e) => e.status === 'mismatch')?.detail,
      /stored sha256 [0-9a-f]{64}, read [0-9a-f]{64}/,
    );
    store.heal();
  },
);

t.test('verify reads S3, not the cache, and reports an object changed while read', async (t) => {
  const memory = new MemoryObjectStore();
  const { fs, verifier } = await testCore(t, { store: memory });
  await writeFile(fs, '/f', pattern(100 * KiB, 7));
  const before = memory.calls.getRange ?? 0;
  t.same(
    (await verifier.verify(['/f'])).map((e) => e.status),
    ['ok'],
  );
  t.ok((memory.calls.getRange ?? 0) > before, 'read from the store');
  memory.beforeGet = async () => {
    const o = memory.objects.get('f');
    if (o) memory.putBytes('f', pattern(100 * KiB, 8), o.metadata);
  };
  const [e] = await verifier.verify(['/f']);
  t.equal(e?.status, 'error');
  t.match(e?.detail, /changed while it was read/);
});

t.test(
  'an upload answered with a wrong ETag: close fails, the file stays staged, a retry uploads it',
  async (t) => {
    const memory = new MemoryObjectStore();
    const store = new FaultyObjectStore(memory).wrongEtag('put', 1);
    const core = await testCore(t, { store, retry: { baseMs: 300, maxMs: 600 } });
    const data = pattern(20 * KiB, 9);
    t.equal(await errnoOf(writeFile(core.fs, '/w.bin', data)), 'EIO', 'close reports the failed upload');
    t.equal(await stagedCount(core.stagingDir), 1, 'the data stays staged');
    t.same(
      core.pending.list().map((f) => f.path),
      ['/w.bin'],
      'and is pending',
    );
    t.match(core.pending.list()[0]?.lastError, /ETag/, 'the reason is the ETag');
    t.ok(
      await eventually(() => (store.calls.put ?? 0) >= 2, 5000, 10),
      'the background retry sends it again',
    );
    await core.drain();
    t.same(core.pending.list(), [], 'then nothing is pending');
    t.equal(memory.objects.get('w.bin')?.metadata[CHECKSUM_METADATA], sha256(data));
    t.same(
      (await core.verifier.verify(['/w.bin'])).map((e) => e.status),
      ['ok'],
    );
  },
);
