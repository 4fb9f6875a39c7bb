// Lifetime of open files (src/fs/open-files.ts) under the orders in which FUSE delivers
// ops: the RELEASE of a closed handle is asynchronous, so the OPEN (O_TRUNC) of the next
// overwrite of the same path can be under way when the old handle's staged copy is
// dropped (issue #11 item 3: writes failed with EIO "file closed"). S3FileSystem over a
// real staging directory and an in-memory store; the ops are interleaved by hand.
import t from 'tap';
import { constants } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3FileSystem } from '../../../src/fs/filesystem.js';
import { Namespace } from '../../../src/fs/namespace.js';
import { OpenFiles } from '../../../src/fs/open-files.js';
import { nullLogger } from '../../../src/log/logger.js';
import { MetadataCache } from '../../../src/meta/metadata.js';
import { BlockCache } from '../../../src/read/block-cache.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import type { CompletedPart } from '../../../src/s3/store.js';
import { systemClock } from '../../../src/util/clock.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { EagerUpload } from '../../../src/write/eager-upload.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { StagingArea } from '../../../src/write/staging.js';
import { UploadQueue } from '../../../src/write/upload-queue.js';
import { Uploader } from '../../../src/write/uploader.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const WRONLY_TRUNC = constants.O_WRONLY | constants.O_TRUNC;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A store whose UploadPart calls can be held until the test lets them go. */
class GatedStore extends MemoryObjectStore {
  gate: Promise<void> | undefined;
  override async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array | NodeJS.ReadableStream,
  ): Promise<CompletedPart> {
    if (this.gate) await this.gate;
    return super.uploadPart(key, uploadId, partNumber, body);
  }
}

async function rig(t: { teardown(f: () => unknown): void }, writeBack = false) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-open-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const logger = nullLogger();
  const store = new GatedStore();
  const requests = new Semaphore(8);
  const meta = new MetadataCache({
    store,
    prefix: '',
    clock: systemClock,
    logger,
    ttlMs: 60_000,
    negativeTtlMs: 0,
  });
  const cache = new BlockCache(16 * MiB);
  const fetcher = testFetcher(store, cache, { requests, blockBytes: MiB, requestBytes: 8 * MiB });
  const staging = new StagingArea(dir, 'm1', logger);
  await staging.init();
  const parts = new PartBuffers(4, PART);
  const uploader = new Uploader({ store, requests, parts, partBytes: PART, partConcurrency: 2, logger });
  const queue = new UploadQueue({ uploader, logger, retryBaseMs: 10, retryMaxMs: 40 });
  const openFiles = new OpenFiles({
    staging,
    store,
    meta,
    queue,
    prefix: '',
    writeBack,
    logger,
    uid: 0,
    gid: 0,
    startEager: (staged) => new EagerUpload(staged, PART, { store, requests, parts, logger }),
  });
  t.teardown(() => queue.stop());
  const namespace = new Namespace({
    store,
    meta,
    prefix: '',
    requests,
    copy: { store, requests, thresholdBytes: 64 * MiB, partBytes: PART, partConcurrency: 2 },
    logger,
  });
  const fs = new S3FileSystem({
    meta,
    fetcher,
    openFiles,
    namespace,
    prefix: '',
    logger,
    uid: 0,
    gid: 0,
    fileMode: 0o644,
    dirMode: 0o755,
    readOnly: false,
    objectMetadata: false,
    readAheadBytes: 8 * MiB,
    mountTimeMs: Date.now(),
  });
  /** open + write + flush, the handle left open (its release is the caller's) */
  const writeKeepOpen = async (path: string, data: Buffer, fh?: number) => {
    const h = fh ?? (await fs.open(path, WRONLY_TRUNC));
    await fs.write(h, data, 0, data.length);
    await fs.flush(h);
    return h;
  };
  const object = (key: string) => store.objects.get(key)?.data ?? Buffer.alloc(0);
  return { fs, store, queue, openFiles, writeKeepOpen, object, staging, stagingDir: dir };
}

t.test('an O_TRUNC open while the last handle is released joins a staged copy that stays', async (t) => {
  const { fs, writeKeepOpen, object } = await rig(t);
  const fh1 = await fs.create('/x.bin', 0o644);
  await writeKeepOpen('/x.bin', randomBytes(1000), fh1);
  // the kernel sent OPEN for the next overwrite before the RELEASE of the last one
  const opening = fs.open('/x.bin', WRONLY_TRUNC);
  await fs.release(fh1);
  const fh2 = await opening;
  const data = randomBytes(3000);
  await writeKeepOpen('/x.bin', data, fh2);
  await fs.release(fh2);
  t.equal(sha(object('x.bin')), sha(data), 'the object holds the second write');
});

t.test('a create of a staged path while its last handle is released', async (t) => {
  const { fs, writeKeepOpen, object } = await rig(t);
  // create looks the parent up first: let the release land after 0..N event-loop turns
  for (let turns = 0; turns < 8; turns++) {
    const fh1 = await fs.create('/c.bin', 0o644);
    await writeKeepOpen('/c.bin', randomBytes(1000), fh1);
    const creating = fs.create('/c.bin', 0o644);
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    await fs.release(fh1);
    const data = randomBytes(2000 + turns);
    const fh2 = await writeKeepOpen('/c.bin', data, await creating);
    await fs.release(fh2);
    t.equal(
      sha(object('c.bin')),
      sha(data),
      `release after ${turns} turns: the object holds the second write`,
    );
  }
});

t.test('write-back: an O_TRUNC open while the background upload finishes', async (t) => {
  const { fs, queue, writeKeepOpen, object } = await rig(t, true);
  const fh1 = await fs.create('/wb.bin', 0o644);
  await writeKeepOpen('/wb.bin', randomBytes(1000), fh1);
  await fs.release(fh1); // schedules the upload; its end drops the staged copy
  const fh2 = await fs.open('/wb.bin', WRONLY_TRUNC);
  const data = randomBytes(1500);
  await writeKeepOpen('/wb.bin', data, fh2);
  await fs.release(fh2);
  await queue.drain();
  t.equal(sha(object('wb.bin')), sha(data), 'the object holds the second write');
});

t.test(
  'a create does not wait for the staging record; close() does, and fails when it could not be written',
  async (t) => {
    const { fs, staging, stagingDir } = await rig(t, true);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let fail: Error | undefined;
    const create = staging.create.bind(staging);
    // every staged file's record write is held until the gate opens (or fails)
    staging.create = async (key, metadata) => {
      const f = await create(key, metadata);
      const first = f.recorded();
      f.recorded = () => gate.then(() => (fail ? Promise.reject(fail) : first));
      return f;
    };
    const fh = await fs.create('/r.bin', 0o644); // returned with the record write held
    await fs.write(fh, Buffer.from('recorded'), 0, 8);
    let flushed = false;
    const flushing = fs.flush(fh).then(() => (flushed = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    t.notOk(flushed, 'close() waits for the record');
    open();
    await flushing;
    const found = await new StagingArea(stagingDir, 'm1', nullLogger()).recover();
    t.ok(
      found.some((f) => f.key === 'r.bin'),
      'once close() returned, a restart finds the staged file',
    );
    await fs.release(fh);

    fail = Object.assign(new Error('no space left on the staging disk'), { code: 'ENOSPC' });
    const fh2 = await fs.create('/full.bin', 0o644);
    await fs.write(fh2, Buffer.from('x'), 0, 1);
    await t.rejects(fs.flush(fh2), { code: 'ENOSPC' }, 'a record that could not be written fails close()');
    await fs.release(fh2);
  },
);

t.test('overwrites in a loop, release and the next open in either order', async (t) => {
  for (const writeBack of [false, true]) {
    const { fs, queue, writeKeepOpen, object } = await rig(t, writeBack);
    let fh = await fs.create('/loop.bin', 0o644);
    for (let i = 0; i < 200; i++) {
      await writeKeepOpen('/loop.bin', randomBytes(1000 + ((i * 37) % 5000)), fh);
      const opening =
        i % 3 === 0
          ? (await fs.release(fh), fs.open('/loop.bin', WRONLY_TRUNC))
          : fs.open('/loop.bin', WRONLY_TRUNC);
      if (i % 3 !== 0) await fs.release(fh);
      fh = await opening;
    }
    const last = randomBytes(4321);
    await writeKeepOpen('/loop.bin', last, fh);
    await fs.release(fh);
    await queue.drain();
    t.equal(sha(object('loop.bin')), sha(last), `writeBack=${writeBack}: the object holds the last write`);
  }
});

t.test('two opens of an object that is not staged yet share one staged copy', async (t) => {
  const { fs, store, object } = await rig(t);
  store.putBytes('shared.bin', randomBytes(4000));
  const [fhA, fhB] = await Promise.all([
    fs.open('/shared.bin', WRONLY_TRUNC),
    fs.open('/shared.bin', constants.O_RDWR | constants.O_TRUNC),
  ]);
  const data = randomBytes(2500);
  await fs.write(fhA, data, 0, data.length);
  const seen = Buffer.alloc(data.length);
  t.equal(await fs.read(fhB, seen, 0, seen.length), data.length, 'the other handle sees the write');
  t.equal(sha(seen), sha(data));
  await fs.flush(fhA);
  await fs.release(fhA);
  await fs.flush(fhB);
  await fs.release(fhB);
  t.equal(sha(object('shared.bin')), sha(data), 'S3 has it');
});

t.test('a close whose upload is overtaken by an O_TRUNC overwrite succeeds', async (t) => {
  const { fs, store, writeKeepOpen, object } = await rig(t);
  let open!: () => void;
  store.gate = new Promise<void>((r) => (open = r));
  const fh1 = await fs.create('/big.bin', 0o644);
  await fs.write(fh1, randomBytes(3 * PART), 0, 3 * PART);
  const closing = fs.flush(fh1); // parts 1 and 2 are held; part 3 reads the file after them
  await new Promise((r) => setTimeout(r, 50));
  const fh2 = await fs.open('/big.bin', WRONLY_TRUNC); // the file shrinks under the upload
  const data = randomBytes(5000);
  await fs.write(fh2, data, 0, data.length);
  store.gate = undefined;
  open();
  await t.resolves(closing, 'the first close is not failed by the overwrite');
  await fs.release(fh1);
  await writeKeepOpen('/big.bin', data, fh2);
  await fs.release(fh2);
  t.equal(sha(object('big.bin')), sha(data), 'the object holds the overwrite');
});

t.test('truncate(path) and chmod of a staged path while its last handle is released', async (t) => {
  const { fs, store, writeKeepOpen, object } = await rig(t);
  const data = randomBytes(1000);
  const fh1 = await fs.create('/t.bin', 0o644);
  await writeKeepOpen('/t.bin', data, fh1);
  const truncating = fs.truncate('/t.bin', 10);
  await fs.release(fh1);
  await truncating;
  t.equal(sha(object('t.bin')), sha(data.subarray(0, 10)), 'the truncate reached S3');

  const fh2 = await fs.create('/m.bin', 0o644);
  await writeKeepOpen('/m.bin', data, fh2);
  const chmoding = fs.chmod('/m.bin', 0o600);
  await fs.release(fh2);
  await chmoding;
  t.equal(Number(store.objects.get('m.bin')?.metadata.mode) & 0o7777, 0o600, 'the chmod reached S3');
  t.equal(sha(object('m.bin')), sha(data), 'with the data');
});

t.test('a close whose upload reads the file while an O_TRUNC open is truncating it succeeds', async (t) => {
  const { fs, writeKeepOpen, object } = await rig(t);
  // the truncate runs in the thread pool as the upload reads: sweep how far apart they start
  for (let round = 0; round < 60; round++) {
    const fh1 = await fs.create('/r.bin', 0o644);
    await fs.write(fh1, randomBytes(64 * 1024), 0, 64 * 1024);
    const closing = fs.flush(fh1);
    for (let i = 0; i < round % 6; i++) await Promise.resolve();
    const opening = fs.open('/r.bin', WRONLY_TRUNC);
    const [closed] = await Promise.allSettled([closing, opening]);
    t.equal(
      closed.status === 'rejected' ? String(closed.reason) : 'ok',
      'ok',
      `round ${round}: the first close succeeds`,
    );
    await fs.release(fh1);
    const data = randomBytes(100 + round);
    const fh2 = await writeKeepOpen('/r.bin', data, await opening);
    await fs.release(fh2);
    t.equal(sha(object('r.bin')), sha(data), `round ${round}: the object holds the overwrite`);
  }
});
