// Multipart uploads are recorded in the staging record before any part is sent, so the
// next mount aborts what a killed daemon left (and uploads the staged data again).
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { StoreError } from '../../../src/s3/errors.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { EagerUpload } from '../../../src/write/eager-upload.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { StagingArea, type StagedRecord } from '../../../src/write/staging.js';
import { UploadQueue } from '../../../src/write/upload-queue.js';
import { Uploader } from '../../../src/write/uploader.js';
import { eventually, orThrow } from '../../fixtures/helpers.js';

const P = 5 * 1024 * 1024;

async function setup(t: { teardown(f: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-mp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new MemoryObjectStore();
  const logger = nullLogger();
  const requests = new Semaphore(4);
  const parts = new PartBuffers(2, P);
  const staging = new StagingArea(dir, 'm1', logger);
  await staging.init();
  const uploader = new Uploader({ store, requests, parts, partBytes: P, partConcurrency: 2, logger });
  const queue = new UploadQueue({
    uploader,
    logger,
    retryBaseMs: 10,
    retryMaxMs: 40,
  });
  t.teardown(() => queue.stop());
  return { dir, store, staging, queue, eagerDeps: { store, requests, parts, logger } };
}

const readRecord = async (dir: string, id: string) =>
  JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as StagedRecord;

function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 997) b[i] = i % 251;
  return b;
}

t.test('an upload ID is on disk before its first part is sent', async (t) => {
  const { dir, store, staging, eagerDeps } = await setup(t);
  const f = await staging.create('seq', {});
  const realPart = store.uploadPart.bind(store);
  const seen: Array<string | undefined> = [];
  store.uploadPart = async (key, uploadId, n, body) => {
    seen.push((await readRecord(dir, f.record.id)).uploads?.[0]?.uploadId);
    t.equal(seen.at(-1), uploadId, `part ${n}: the record names its upload`);
    return realPart(key, uploadId, n, body);
  };
  f.eager = new EagerUpload(f, P, eagerDeps);
  await f.write(data(2 * P + 10), 0);
  await eventually(() => store.calls.uploadPart === 2, 2000, 20);
  t.equal(seen.length, 2, 'two parts went out while the file was written');
  await f.remove();
});

t.test('the next mount aborts what a killed daemon left, then uploads the file', async (t) => {
  const { dir, store, staging, queue, eagerDeps } = await setup(t);
  // daemon 1: parts of one file go out while it is written, then it "dies"
  const f = await staging.create('killed', {});
  f.eager = new EagerUpload(f, P, eagerDeps);
  const content = data(2 * P + 10);
  await f.write(content, 0);
  await eventually(() => store.calls.uploadPart === 2, 2000, 20);
  // and a CreateMultipartUpload whose answer never got recorded (killed in between)
  const lost = await store.createMultipart('killed');
  const record = await readRecord(dir, f.record.id);
  record.uploads?.push({ key: 'killed', startedMs: Date.now() });
  await import('node:fs/promises').then((fs) =>
    fs.writeFile(join(dir, `${f.record.id}.json`), JSON.stringify(record)),
  );
  // uploads of other clients: another key, and the same key an hour earlier: not ours
  const other = await store.createMultipart('someone-else');
  const earlier = await store.createMultipart('killed');
  const e = store.pendingUploads.find((u) => u.uploadId === earlier);
  if (e) e.initiatedMs -= 3_600_000;
  t.equal(store.pendingUploads.length, 4, 'four uploads in progress');

  // daemon 2
  const [again] = await new StagingArea(dir, 'm1', nullLogger()).recover();
  t.ok(again, 'recovered');
  if (!again) return;
  f.eager = undefined; // daemon 1 is gone: what it would still do must not happen here
  t.equal(again.leftoverUploads().length, 2, "the record lists both of the dead daemon's uploads");
  await orThrow(queue.uploadNow(again));
  t.ok(store.objects.get('killed')?.data.equals(content), 'the staged data is uploaded intact');
  t.same(
    store.pendingUploads.map((u) => u.uploadId).sort(),
    [other, earlier].sort(),
    "both uploads aborted (the unrecorded one found by listing); the other clients' kept",
  );
  t.notOk(store.pendingUploads.some((u) => u.uploadId === lost));
});

t.test('an abort the server refuses is logged and does not stop the upload', async (t) => {
  const { dir, store, staging, queue } = await setup(t);
  const f = await staging.create('k', {});
  await f.write(data(100), 0);
  const id = await store.createMultipart('k');
  const entry = await f.multipartStarting('k');
  await f.multipartStarted(entry, id);
  const [again] = await new StagingArea(dir, 'm1', nullLogger()).recover();
  if (!again) {
    t.fail('not recovered');
    return;
  }
  store.abortMultipart = async () => {
    throw new StoreError('InvalidRequest', 'method not allowed', { status: 405, code: 'MethodNotAllowed' });
  };
  store.listMultipart = async () => {
    throw new StoreError('NotImplemented', 'not implemented', { status: 501 });
  };
  await orThrow(queue.uploadNow(again));
  t.equal(store.objects.get('k')?.data.length, 100, 'uploaded all the same');
});

t.test('a whole-file multipart upload is recorded while it runs and forgotten after', async (t) => {
  const { dir, store, staging, queue } = await setup(t);
  const f = await staging.create('big', {});
  await f.write(data(2 * P + 3), 0);
  const realComplete = store.completeMultipart.bind(store);
  store.completeMultipart = async (key, uploadId, parts) => {
    t.equal((await readRecord(dir, f.record.id)).uploads?.[0]?.uploadId, uploadId, 'recorded while it runs');
    return realComplete(key, uploadId, parts);
  };
  const realPart = store.uploadPart.bind(store);
  let fail = true;
  store.uploadPart = async (...a: Parameters<typeof realPart>) => {
    if (fail) {
      fail = false;
      throw new StoreError('Unreachable', 'down');
    }
    return realPart(...a);
  };
  await t.rejects(
    orThrow(queue.uploadNow(f)),
    { name: 'StoreError', kind: 'Unreachable' },
    'the upload fails',
  );
  t.same(store.pendingUploads, [], 'the failed upload was aborted');
  t.same((await readRecord(dir, f.record.id)).uploads, undefined, 'and is no longer recorded');
  await queue.drain();
  t.equal(store.objects.get('big')?.data.length, 2 * P + 3, 'the retry uploaded it');
  t.same(store.pendingUploads, [], 'nothing left in progress');
});

t.test(
  'an upload whose create timed out is found by listing; the live upload of the same file is not touched',
  async (t) => {
    const { store, staging, queue, eagerDeps } = await setup(t);
    const f = await staging.create('same', {});
    // a CreateMultipartUpload that timed out here although the server created the upload
    const lost = await store.createMultipart('same');
    f.multipartLeft(await f.multipartStarting('same'));
    // then the file is written front to back: its parts go out under a new upload
    f.eager = new EagerUpload(f, P, eagerDeps);
    const content = data(2 * P + 10);
    await f.write(content, 0);
    await eventually(() => store.calls.uploadPart === 2, 2000, 20);
    await orThrow(queue.uploadNow(f));
    t.ok(store.objects.get('same')?.data.equals(content), 'uploaded intact');
    t.equal(store.calls.uploadPart, 3, 'by the eager upload: only the tail was sent at close');
    t.same(store.pendingUploads, [], `the lost upload (${lost}) was aborted`);
  },
);
