// The filesystem core in-process (buildCore over the in-memory store and the faulty
// wrapper, no FUSE): POSIX ops assert bytes in the store and the errno a caller would see.
import { KERNEL_ATTR_MS } from '../../../src/fs/object-handles.js';
import t from 'tap';
import { constants } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3FileSystem } from '../../../src/fs/filesystem.js';
import { StoreError } from '../../../src/s3/errors.js';
import {
  errnoOf,
  pattern,
  READ_BYTES,
  readFile,
  readHandle,
  testCore,
  writeFile,
} from '../../fixtures/core.js';
import { FaultyObjectStore } from '../../fixtures/faulty-store.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC } = constants;
const KiB = 1024;

/** One read through a handle (the only place the tests call fs.read). */
function readAt(fs: S3FileSystem, fh: number, dest: Buffer, offset: number): Promise<number> {
  return fs.read(fh, dest, offset, dest.length);
}

const stored = (store: MemoryObjectStore, key: string) => store.objects.get(key)?.data;

t.test('create, write, close, then read back through a new open', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  const data = pattern(300 * KiB + 7, 1); // several blocks, the last one partial
  await writeFile(fs, '/new.bin', data);
  t.same(stored(store, 'new.bin'), data, 'the object holds the bytes written');
  t.equal((await fs.getattr('/new.bin')).size, data.length, 'stat shows the size');
  t.same(await readFile(fs, '/new.bin'), data, 'a new open reads them back');
  t.ok(
    (await fs.readdir('/')).some((e) => e.name === 'new.bin'),
    'readdir lists it',
  );
  t.equal(await errnoOf(fs.open('/missing', O_RDONLY)), 'ENOENT', 'a name never written is ENOENT');
  t.equal(
    await errnoOf(fs.create('/no/such/dir/x', 0o644)),
    'ENOENT',
    'create under a missing directory is ENOENT',
  );
});

t.test('overwrite of an existing object', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  const old = pattern(200 * KiB, 2);
  store.putBytes('o.bin', old);

  const fh = await fs.open('/o.bin', O_WRONLY | O_TRUNC);
  await fs.write(fh, Buffer.from('new'), 0, 3);
  await fs.flush(fh);
  await fs.release(fh);
  t.same(stored(store, 'o.bin'), Buffer.from('new'), 'O_TRUNC: the object is just the new bytes');

  store.putBytes('p.bin', old);
  const rw = await fs.open('/p.bin', O_RDWR);
  await fs.write(rw, Buffer.from('XYZ'), 100 * KiB, 3);
  t.same(
    await readHandle(fs, rw, 100 * KiB - 1),
    Buffer.concat([old.subarray(100 * KiB - 1, 100 * KiB), Buffer.from('XYZ'), old.subarray(100 * KiB + 3)]),
    'the handle reads its own write',
  );
  await fs.flush(rw);
  await fs.release(rw);
  const want = Buffer.from(old);
  want.write('XYZ', 100 * KiB);
  t.same(stored(store, 'p.bin'), want, 'without O_TRUNC: the old bytes with the write in the middle');
  t.same(await readFile(fs, '/p.bin'), want, 'read back the same');
});

t.test('rename of a file', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  const data = pattern(70 * KiB, 3);
  store.putBytes('a.bin', data);
  await fs.rename('/a.bin', '/b.bin');
  t.notOk(store.objects.has('a.bin'), 'the source is gone');
  t.same(stored(store, 'b.bin'), data, 'the target has its bytes');
  t.equal(await errnoOf(fs.getattr('/a.bin')), 'ENOENT', 'stat of the old name: ENOENT');
  t.same(await readFile(fs, '/b.bin'), data, 'the new name reads the bytes');

  // a file written through this mount, renamed right after close
  const fresh = pattern(10 * KiB, 4);
  await writeFile(fs, '/c.bin', fresh);
  await fs.rename('/c.bin', '/d.bin');
  t.same(stored(store, 'd.bin'), fresh, 'a just-written file moves with its bytes');
  t.notOk(store.objects.has('c.bin'));
  t.equal(await errnoOf(fs.rename('/nope', '/x')), 'ENOENT', 'renaming a missing name is ENOENT');
});

t.test('rename of a directory', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  await fs.mkdir('/d', 0o755);
  await writeFile(fs, '/d/x', Buffer.from('x-bytes'));
  store.putBytes('d/sub/y', 'y-bytes');
  await fs.rename('/d', '/e');
  t.same([...store.objects.keys()].sort(), ['e/', 'e/sub/y', 'e/x'], 'every key moved, the marker too');
  t.equal(await errnoOf(fs.getattr('/d')), 'ENOENT', 'the old directory is gone');
  t.same(
    (await fs.readdir('/e')).map((e) => e.name).sort(),
    ['.', '..', 'sub', 'x'],
    'the new one lists its entries',
  );
  t.equal((await readFile(fs, '/e/sub/y')).toString(), 'y-bytes');
  t.equal(await errnoOf(fs.rmdir('/e')), 'ENOTEMPTY', 'rmdir of a non-empty directory is ENOTEMPTY');
});

t.test('unlink while open', async (t) => {
  const store = new MemoryObjectStore();
  const { fs, clock } = await testCore(t, { store });

  // SEMANTICS.md: a file open here for writing stays readable and writable through its
  // handles, but it is never uploaded again
  const data = pattern(100 * KiB, 5);
  const fh = await fs.create('/w.bin', 0o644);
  await fs.write(fh, data, 0, data.length);
  await fs.flush(fh);
  t.ok(store.objects.has('w.bin'), 'uploaded at flush');
  await fs.unlink('/w.bin');
  t.notOk(store.objects.has('w.bin'), 'unlink deleted the object');
  t.equal(await errnoOf(fs.getattr('/w.bin')), 'ENOENT', 'the name is gone');
  t.same(await readHandle(fs, fh), data, 'the open handle still reads the bytes');
  await fs.write(fh, Buffer.from('more'), data.length, 4);
  await fs.flush(fh);
  await fs.release(fh);
  t.notOk(store.objects.has('w.bin'), 'writes after unlink are never uploaded');
  t.notOk(
    (await fs.readdir('/')).some((e) => e.name === 'w.bin'),
    'nor listed',
  );

  // a handle open for reading an object: nothing in SEMANTICS.md keeps the object; a read
  // that must go to S3 fails, and never returns other bytes
  const obj = pattern(300 * KiB, 6);
  store.putBytes('r.bin', obj);
  clock.advance(60_000); // past --metadata-ttl: the listing of / above no longer hides it
  const rh = await fs.open('/r.bin', O_RDONLY);
  await fs.unlink('/r.bin');
  const buf = Buffer.alloc(READ_BYTES);
  const got = await readAt(fs, rh, buf, 0).then(
    (n) => buf.subarray(0, n),
    (err: unknown) => err,
  );
  if (Buffer.isBuffer(got)) t.same(got, obj.subarray(0, READ_BYTES), "cached bytes are the object's");
  else t.equal(await errnoOf(Promise.reject(got)), 'ENOENT', 'the read fails with ENOENT');
  await fs.release(rh);
});

t.test('truncate: shrink and grow', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  store.putBytes('t.txt', 'hello world');
  await fs.truncate('/t.txt', 5);
  t.equal(stored(store, 't.txt')?.toString(), 'hello', 'shrunk in S3');
  await fs.truncate('/t.txt', 8);
  t.same(stored(store, 't.txt'), Buffer.from('hello\0\0\0'), 'grown with zeros');
  t.equal((await fs.getattr('/t.txt')).size, 8, 'stat shows the new size');
  t.same(await readFile(fs, '/t.txt'), Buffer.from('hello\0\0\0'), 'reads show it');
  await fs.truncate('/t.txt', 0);
  t.same(stored(store, 't.txt'), Buffer.alloc(0), 'to zero');

  // through a handle, on a file spanning blocks
  const big = pattern(200 * KiB, 7);
  store.putBytes('u.bin', big);
  const fh = await fs.open('/u.bin', O_RDWR);
  await fs.ftruncate(fh, 70 * KiB);
  await fs.ftruncate(fh, 90 * KiB);
  await fs.flush(fh);
  await fs.release(fh);
  t.same(
    stored(store, 'u.bin'),
    Buffer.concat([big.subarray(0, 70 * KiB), Buffer.alloc(20 * KiB)]),
    'ftruncate down then up: the cut bytes come back as zeros',
  );
  t.equal(await errnoOf(fs.truncate('/none', 1)), 'ENOENT', 'truncate of a missing file is ENOENT');
  const ro = await fs.open('/u.bin', O_RDONLY);
  t.equal(await errnoOf(fs.ftruncate(ro, 1)), 'EBADF', 'ftruncate of a read-only handle is EBADF');
  await fs.release(ro);
});

t.test('ESTALE when the object changes under an open read handle', async (t) => {
  const store = new MemoryObjectStore();
  const { fs, clock } = await testCore(t, { store });
  const v1 = pattern(300 * KiB, 8);
  const v2 = pattern(300 * KiB, 9);
  store.putBytes('s.bin', v1);

  // a handle that has handed out nothing yet moves to the current version (not a longer one)
  const fh = await fs.open('/s.bin', O_RDONLY);
  store.putBytes('s.bin', v2); // another client replaces it
  t.same(await readHandle(fs, fh), v2, 'a handle that read nothing yet reads the current version');
  await fs.release(fh);
  t.same(await readFile(fs, '/s.bin'), v2, 'and so does a new open');
  store.putBytes('g.bin', v1);
  const grown = await fs.open('/g.bin', O_RDONLY);
  store.putBytes('g.bin', pattern(301 * KiB, 10));
  const buf = Buffer.alloc(READ_BYTES);
  t.equal(await errnoOf(readAt(fs, grown, buf, 0)), 'ESTALE', 'replaced by a longer one: ESTALE');
  t.equal(await errnoOf(readAt(fs, grown, buf, 0)), 'ESTALE', 'on every later read');
  await fs.release(grown);
  clock.advance(KERNEL_ATTR_MS); // a new open waits out the kernel's cached size (consistency.ts)
  t.same(await readFile(fs, '/g.bin'), pattern(301 * KiB, 10), 'a new open reads the new version');

  // a handle that read part of the old version: any later read is old bytes or ESTALE
  store.putBytes('s2.bin', v1);
  const old = await fs.open('/s2.bin', O_RDONLY);
  const first = Buffer.alloc(64 * KiB);
  t.equal(await readAt(fs, old, first, 0), first.length);
  t.same(first, v1.subarray(0, 64 * KiB), 'first read: the old version');
  store.putBytes('s2.bin', v2);
  const later = Buffer.alloc(READ_BYTES);
  const at = 256 * KiB;
  const got = await readAt(fs, old, later, at).then(
    (n) => later.subarray(0, n),
    (err: unknown) => err,
  );
  if (Buffer.isBuffer(got))
    t.same(got, v1.subarray(at, at + READ_BYTES), 'prefetched bytes of the old version');
  else t.equal(await errnoOf(Promise.reject(got)), 'ESTALE', 'or ESTALE; never the new bytes');
  await fs.release(old);
});

t.test('a failed upload: close reports it, the file stays staged, a retry uploads it', async (t) => {
  const store = new MemoryObjectStore();
  const faulty = new FaultyObjectStore(store).failNth('put', 1);
  const core = await testCore(t, { store: faulty, retry: { baseMs: 10, maxMs: 40 } });
  const { fs } = core;
  const data = pattern(50 * KiB, 10);
  const fh = await fs.create('/f.bin', 0o644);
  await fs.write(fh, data, 0, data.length);
  t.equal(await errnoOf(fs.flush(fh)), 'EIO', 'close reports the upload error (a reset: EIO)');
  t.notOk(store.objects.has('f.bin'), 'not in S3');
  t.ok(
    (await readdir(core.stagingDir)).some((n) => n.endsWith('.data')),
    'still staged on disk',
  );
  t.same(await readHandle(fs, fh), data, 'the handle reads the staged bytes');
  t.equal((await fs.getattr('/f.bin')).size, data.length, 'stat shows the staged file');
  await fs.release(fh);
  await core.drain();
  t.same(stored(store, 'f.bin'), data, 'the background retry uploaded it');
  t.equal(faulty.calls.put, 2, 'one failed PUT, one retry');
  t.same(
    (await readdir(core.stagingDir)).filter((n) => n.endsWith('.data')),
    [],
    'and the staged copy is gone',
  );

  // a refusal retrying cannot fix: close reports it (EACCES), the file is parked
  faulty.failAlways('put', new StoreError('AccessDenied', 'denied (injected)', { op: 'PutObject' }));
  const g = await fs.create('/g.bin', 0o644);
  await fs.write(g, data, 0, data.length);
  t.equal(await errnoOf(fs.flush(g)), 'EACCES', 'close fails with EACCES');
  await fs.release(g);
  t.same(
    core.parked().map((p) => p.path),
    ['/g.bin'],
    'parked, not retried',
  );
  t.notOk(store.objects.has('g.bin'));
});

t.test('a lookup whose LIST fails is EIO, and the failure is not remembered', async (t) => {
  const store = new MemoryObjectStore();
  store.putBytes('l.txt', 'l');
  const faulty = new FaultyObjectStore(store).failNth('list', 1);
  const { fs } = await testCore(t, { store: faulty });
  t.equal(await errnoOf(fs.getattr('/l.txt')), 'EIO', 'the failed lookup');
  t.equal((await fs.getattr('/l.txt')).size, 1, 'the next one asks again and finds it');
});

t.test(
  'a GET body cut short: the read returns the right bytes (refetched) or fails, never wrong bytes',
  async (t) => {
    const data = pattern(600 * KiB + 123, 11);
    // cut points: before any byte, inside the first block, at a block boundary, deep in the request
    for (const afterBytes of [0, 1, 64 * KiB, 100 * KiB, 200 * KiB]) {
      const store = new MemoryObjectStore();
      store.putBytes('c.bin', data);
      const faulty = new FaultyObjectStore(store).cutBody('readInto', 1, afterBytes);
      const { fs } = await testCore(t, { store: faulty });
      // one cut: ObjectReader.refetch asks again for the blocks it waits for (ARCHITECTURE.md)
      t.same(
        await readFile(fs, '/c.bin'),
        data,
        `cut after ${afterBytes} bytes: the missing blocks were fetched again`,
      );
      t.ok((faulty.calls.readInto ?? 0) >= 2, 'the cut GET was followed by another');
      t.same(
        await readFile(fs, '/c.bin'),
        data,
        `cut after ${afterBytes} bytes: a new open reads the right bytes (nothing half-filled was cached)`,
      );
    }

    // every GET cut: the read fails, it does not hand out what it has not got
    const store = new MemoryObjectStore();
    store.putBytes('c.bin', data);
    const faulty = new FaultyObjectStore(store);
    for (let i = 1; i <= 20; i++) faulty.cutBody('readInto', i, 10 * KiB);
    const { fs } = await testCore(t, { store: faulty });
    const fh = await fs.open('/c.bin', O_RDONLY);
    const buf = Buffer.alloc(READ_BYTES);
    const got = await readAt(fs, fh, buf, 128 * KiB).then(
      (n) => buf.subarray(0, n),
      (err: unknown) => err,
    );
    if (Buffer.isBuffer(got)) t.same(got, data.subarray(128 * KiB, 256 * KiB), 'right bytes');
    else t.equal(await errnoOf(Promise.reject(got)), 'EIO', 'EIO when every attempt is cut');
    await fs.release(fh);
  },
);

t.test('staged files are uploaded by the next core on the same staging dir (restart)', async (t) => {
  const store = new MemoryObjectStore();
  const down = new FaultyObjectStore(store).failAlways('put').failAlways('createMultipart');
  // retries far apart: the first core never retries before it is thrown away
  const first = await testCore(t, { store: down, retry: { baseMs: 60_000, maxMs: 60_000 } });
  const small = pattern(40 * KiB, 12);
  store.putBytes('r/', ''); // the directory, made by another client
  const fh = await first.fs.create('/r/small.bin', 0o644);
  await first.fs.write(fh, small, 0, small.length);
  t.equal(await errnoOf(first.fs.flush(fh)), 'EIO', 'the upload fails');
  await first.fs.release(fh);
  first.stop(); // the daemon dies: its core is thrown away with the file staged
  t.notOk(store.objects.has('r/small.bin'), 'not in S3');

  const second = await testCore(t, { store, stagingDir: first.stagingDir });
  t.equal(await second.recover(), 1, 'the new core finds the staged file');
  await second.drain();
  t.same(stored(store, 'r/small.bin'), small, 'and uploads it, bytes intact');
  t.same(
    (await readdir(first.stagingDir)).filter((n) => n.endsWith('.data')),
    [],
    'nothing left staged',
  );
  t.same(await readFile(second.fs, '/r/small.bin'), small, 'the new core reads it back');
});

t.test('a multipart upload whose part fails is retried whole, bytes intact', async (t) => {
  const store = new MemoryObjectStore();
  const faulty = new FaultyObjectStore(store).failNth('uploadPart', 2).failNth('completeMultipart', 1);
  const core = await testCore(t, { store: faulty });
  const data = pattern(11 * 1024 * KiB + 5, 13); // 3 parts of 5 MiB (the smallest part size)
  const fh = await core.fs.create('/big.bin', 0o644);
  for (let at = 0; at < data.length; at += READ_BYTES) {
    const chunk = data.subarray(at, at + READ_BYTES);
    await core.fs.write(fh, chunk, at, chunk.length);
  }
  const closed = await errnoOf(core.fs.flush(fh));
  t.ok(
    closed === 'ok' || closed === 'EIO',
    `close: ${closed} (the failed part may have been sent while writing)`,
  );
  await core.fs.release(fh);
  await core.drain();
  t.same(stored(store, 'big.bin'), data, 'the object has exactly the bytes written');
  t.same(store.pendingUploads, [], 'no multipart upload left behind');
});

t.test('slow S3: concurrent lookups of one name wait for one HEAD and LIST', async (t) => {
  const store = new MemoryObjectStore();
  store.putBytes('slow.txt', 'slow');
  const faulty = new FaultyObjectStore(store).delay('head', 30).delay('list', 30);
  const { fs } = await testCore(t, { store: faulty });
  const [a, b] = await Promise.all([fs.getattr('/slow.txt'), fs.getattr('/slow.txt')]);
  t.equal(a.size, 4);
  t.equal(b.size, 4);
  t.equal(faulty.calls.head, 1, 'one HEAD for both');
  faulty.heal();
  t.equal((await readFile(fs, '/slow.txt')).toString(), 'slow');
});

t.test(
  'drain waits for the blocks a read queued for the disk cache (an unmount right after a read)',
  async (t) => {
    const store = new MemoryObjectStore();
    const dir = await mkdtemp(join(tmpdir(), 's3mount-core-dcache-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const data = pattern(40 * 64 * KiB, 3); // 40 blocks of 64 KiB
    store.putBytes('big.bin', data);
    const core = await testCore(t, { store, flags: { 'cache-dir': dir } });
    t.same(await readFile(core.fs, '/big.bin'), data, 'read through the core');
    await core.drain();
    t.equal(core.disk?.stats().writes, 40, 'every block is on disk when drain returns');
  },
);
