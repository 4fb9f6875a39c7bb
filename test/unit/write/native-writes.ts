// Writes that FUSE threads do themselves (native/fuse-native/s3m-writes.h, s3m_write*):
// here the JavaScript model of that table (test/fixtures/native/write-model.ts, itself
// checked against the C by test/unit/native/writes.ts) plays the FUSE threads, writing
// into the staged file through its descriptor as pwrite does, so that the staged file's
// bookkeeping (StagedFile.absorb), eager uploads and the upload queue are checked
// against it. The real C path runs in test/fuse (fast-paths.ts and every write test).
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { EagerUpload } from '../../../src/write/eager-upload.js';
import { NativeWrites } from '../../../src/write/native-writes.js';
import { StagingArea, type StagedFile } from '../../../src/write/staging.js';
import { UploadQueue } from '../../../src/write/upload-queue.js';
import { Uploader } from '../../../src/write/uploader.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { eventually, orThrow } from '../../fixtures/helpers.js';
import { WriteModel } from '../../fixtures/native/write-model.js';

const P = 5 * 1024 * 1024;

async function setup(t: { teardown(f: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-native-writes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new MemoryObjectStore();
  const staging = new StagingArea(dir, 'm1', nullLogger());
  await staging.init();
  const uploader = new Uploader({
    store,
    requests: new Semaphore(4),
    parts: new PartBuffers(2, P),
    partBytes: P,
    partConcurrency: 2,
    logger: nullLogger(),
  });
  const queue = new UploadQueue({
    uploader,
    logger: nullLogger(),
    retryBaseMs: 10,
    retryMaxMs: 40,
  });
  const port = new WriteModel();
  const writes = new NativeWrites(port);
  const deps = {
    store,
    requests: new Semaphore(4),
    parts: new PartBuffers(2, 5 * 1024 * 1024),
    logger: nullLogger(),
  };
  const made: StagedFile[] = [];
  t.teardown(() => Promise.all(made.map((f) => f.remove())));
  const create = async (key: string) => {
    const f = await staging.create(key, {});
    made.push(f);
    return f;
  };
  return { store, create, queue, port, writes, deps };
}

/** Waits until `cond` holds (up to 2 s): uploads run on their own schedule. */
const until = (cond: () => boolean): Promise<boolean> => eventually(cond, 2000, 10);

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 997) b[i] = (i / 997) % 251;
  return b;
}

const tick = () => new Promise((r) => setTimeout(r, 30));

/** `data` written front to back in `chunk`-byte writes on handle `fh`, as a FUSE thread would. */
function writeAll(port: WriteModel, fh: number, data: Buffer, chunk: number): void {
  for (let off = 0; off < data.length; off += chunk)
    port.write(fh, data.subarray(off, Math.min(data.length, off + chunk)), off);
}

t.test('writes done outside JS are taken in: size, dirty, content uploaded', async (t) => {
  const { store, create, queue, port, writes } = await setup(t);
  const f = await create('k');
  t.ok(writes.attach(7, f), 'handle attached');
  f.transition({ kind: 'same-as-object' }); // clean, as when staged from an (empty) object
  t.notOk(f.dirty, 'clean before any write');
  t.ok(port.write(7, Buffer.from('hello '), 0));
  t.ok(port.write(7, Buffer.from('world'), 6));
  const wrote = port.files.get(0)?.lastMs ?? -1;
  await tick();
  t.equal(f.size, 0, 'looking is only looking: no write is taken in by a getter');
  t.notOk(f.dirty, 'nor by asking whether it is dirty');
  f.syncFromNative(); // what every op on the file does first (S3FileSystem)
  t.equal(f.size, 11, 'size includes the writes JS never saw');
  t.ok(f.dirty, 'dirty after them');
  t.equal(f.lastWriteMs, wrote, "the last write's time is the mtime, not the time JS looked");
  const before = f.generation;
  t.equal(f.generation, before, 'looking again changes nothing');
  await orThrow(queue.uploadNow(f));
  t.equal(store.objects.get('k')?.data.toString(), 'hello world', 'uploaded byte-exact');
  t.notOk(f.dirty, 'clean after the upload');
  t.ok(port.write(7, Buffer.from('!'), 11));
  f.syncFromNative();
  t.ok(f.dirty, 'a later write makes it dirty again');
  writes.detach(7);
  t.notOk(port.write(7, Buffer.from('x'), 0), 'a detached handle goes to JS');
});

t.test('truncate and JS writes keep the native size exact', async (t) => {
  const { create, port, writes } = await setup(t);
  const f = await create('t');
  writes.attach(3, f);
  port.write(3, Buffer.alloc(1000, 1), 0);
  f.syncFromNative();
  await f.truncate(10);
  t.equal(f.size, 10, 'truncate shrinks it');
  t.equal(port.take(0).size, 10, 'and the native table knows');
  await f.write(Buffer.from('abc'), 20);
  t.equal(f.size, 23, 'a write JS did extends it');
  t.equal(port.take(0).size, 23, 'in the native table too');
  port.write(3, Buffer.from('z'), 5);
  f.syncFromNative();
  t.equal(f.size, 23, 'a native write inside does not shrink it');
  const want = Buffer.alloc(23);
  want.fill(1, 0, 10);
  want.write('z', 5);
  want.write('abc', 20);
  t.ok((await readFile(f.dataPath)).equals(want), 'staged bytes are what was written, in order');
});

/** A staged file with an eager upload, attached as handle 5 and written front to back by "FUSE threads". */
async function writtenWithEagerUpload(
  t: Parameters<typeof setup>[0],
  key: string,
  size: number,
  chunk: number,
) {
  const env = await setup(t);
  const f = await env.create(key);
  f.eager = new EagerUpload(f, P, env.deps);
  env.writes.attach(5, f);
  const data = pattern(size);
  writeAll(env.port, 5, data, chunk);
  return { ...env, f, data };
}

t.test('parts of a file written front to back by FUSE threads go out while it is written', async (t) => {
  const { store, queue, f, data } = await writtenWithEagerUpload(t, 'seq', 3 * P + 123, 128 * 1024);
  await until(() => store.calls.uploadPart === 3);
  t.equal(store.calls.uploadPart, 3, 'woken by the trigger: three full parts uploaded before close');
  f.syncFromNative(); // the flush that uploads it starts so
  await orThrow(queue.uploadNow(f));
  t.equal(store.calls.uploadPart, 4, 'close sends only the tail');
  t.ok(store.objects.get('seq')?.data.equals(data), 'byte-exact');
});

t.test('a FUSE-thread write into an uploaded part falls back to a whole upload', async (t) => {
  const { store, queue, port, f, data } = await writtenWithEagerUpload(
    t,
    'rewritten',
    2 * P + 7,
    1024 * 1024,
  );
  await until(() => (store.calls.uploadPart ?? 0) >= 1);
  t.ok((store.calls.uploadPart ?? 0) >= 1, 'a part went out early');
  port.write(5, Buffer.from('CHANGED'), 10); // behind the uploaded part
  f.syncFromNative(); // the flush that uploads it starts so
  await orThrow(queue.uploadNow(f));
  const want = Buffer.from(data);
  want.write('CHANGED', 10);
  t.ok(store.objects.get('rewritten')?.data.equals(want), 'the object has the late write');
});

t.test('removing the staged file closes its native entry first', async (t) => {
  const { create, port, writes } = await setup(t);
  const f = await create('gone');
  writes.attach(11, f);
  port.write(11, Buffer.from('data'), 0);
  await f.remove();
  t.same(port.closed, [0], 'closed in the native table');
  t.notOk(port.write(11, Buffer.from('late'), 0), 'its handles are detached');
  t.equal(
    f.enableNative(port, () => undefined),
    -1,
    'a removed file is not registered again',
  );
});
