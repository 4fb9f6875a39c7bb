// The one multipart lifecycle (src/write/multipart.ts MultipartUpload): whole-file
// uploads, eager uploads and multipart copies all abort a failed upload exactly once and
// leave nothing pending on the server nor in the staging record. Faults come from the
// failure-injecting store over the in-memory one.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { copyObject } from '../../../src/write/copier.js';
import { EagerUpload } from '../../../src/write/eager-upload.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { StagingArea } from '../../../src/write/staging.js';
import { Uploader } from '../../../src/write/uploader.js';
import { FaultyObjectStore, type StoreOp } from '../../fixtures/faulty-store.js';
import { eventually } from '../../fixtures/helpers.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const P = 5 * 1024 * 1024;

function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 997) b[i] = i % 251;
  return b;
}

async function setup(t: { teardown(f: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-lifecycle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mem = new MemoryObjectStore();
  const store = new FaultyObjectStore(mem);
  const logger = nullLogger();
  const requests = new Semaphore(4);
  const parts = new PartBuffers(2, P);
  const staging = new StagingArea(dir, 'm', logger);
  await staging.init();
  const uploader = new Uploader({ store, requests, parts, partBytes: P, partConcurrency: 2, logger });
  const staged = async (key: string) => {
    const f = await staging.create(key, {});
    t.teardown(() => f.remove());
    return f;
  };
  return { mem, store, uploader, staged, eagerDeps: { store, requests, parts, logger } };
}

for (const failing of ['uploadPart', 'completeMultipart'] as const satisfies readonly StoreOp[]) {
  t.test(`whole-file upload: a failed ${failing} aborts the upload once`, async (t) => {
    const { mem, store, uploader, staged } = await setup(t);
    const f = await staged('whole');
    await f.write(data(2 * P + 3), 0);
    store.failNth(failing, 1);
    await t.rejects(uploader.upload(f), { name: 'StoreError', kind: 'Unreachable' }, 'the upload fails');
    t.equal(store.calls.createMultipart, 1);
    t.equal(store.calls.abortMultipart, 1, 'aborted exactly once');
    t.same(mem.pendingUploads, [], 'nothing pending on the server');
    t.same(f.record.uploads, undefined, 'nor in the staging record');
    await uploader.upload(f);
    t.equal(store.calls.abortMultipart, 1, 'a successful upload aborts nothing');
    t.equal(mem.objects.get('whole')?.data.length, 2 * P + 3);
  });
}

t.test('eager upload: a part that fails while the file is written aborts the upload once', async (t) => {
  const { mem, store, uploader, staged, eagerDeps } = await setup(t);
  const f = await staged('eager');
  f.eager = new EagerUpload(f, P, eagerDeps);
  store.failNth('uploadPart', 1);
  const body = data(3 * P + 10);
  await f.write(body, 0);
  t.ok(await eventually(() => store.calls.abortMultipart === 1, 5000, 20), 'aborted once its parts settled');
  t.same(mem.pendingUploads, [], 'nothing pending on the server');
  t.same(f.record.uploads, undefined, 'nor in the staging record');
  await uploader.upload(f); // the file whole, under a new upload
  t.ok(mem.objects.get('eager')?.data.equals(body), 'uploaded whole, bytes intact');
  t.equal(store.calls.abortMultipart, 1, 'still aborted exactly once');
});

for (const failing of ['uploadPart', 'completeMultipart'] as const satisfies readonly StoreOp[]) {
  t.test(`eager upload: a failed ${failing} at close aborts the upload once`, async (t) => {
    const { mem, store, uploader, staged, eagerDeps } = await setup(t);
    const f = await staged('tail');
    f.eager = new EagerUpload(f, P, eagerDeps);
    await f.write(data(2 * P + 10), 0);
    t.ok(await eventually(() => store.calls.uploadPart === 2, 5000, 20), 'two parts went out early');
    store.failNth(failing, 1); // the tail's part, or the completion
    await t.rejects(uploader.upload(f), { name: 'StoreError', kind: 'Unreachable' }, 'the upload fails');
    t.equal(store.calls.abortMultipart, 1, 'aborted exactly once');
    t.same(mem.pendingUploads, [], 'nothing pending on the server');
    t.same(f.record.uploads, undefined, 'nor in the staging record');
  });
}

for (const failing of ['uploadPartCopy', 'completeMultipart'] as const satisfies readonly StoreOp[]) {
  t.test(`multipart copy: a failed ${failing} aborts the copy once`, async (t) => {
    const { mem, store } = await setup(t);
    await mem.put({ key: 'src', body: data(3 * P), contentLength: 3 * P, metadata: { mode: '33188' } });
    const o = {
      store,
      requests: new Semaphore(4),
      thresholdBytes: P,
      partBytes: P,
      partConcurrency: 2,
      logger: nullLogger(),
    };
    store.failNth(failing, 1);
    await t.rejects(copyObject(o, 'src', 'dst', 3 * P), { name: 'StoreError', kind: 'Unreachable' });
    t.equal(store.calls.createMultipart, 1);
    t.equal(store.calls.abortMultipart, 1, 'aborted exactly once');
    t.same(mem.pendingUploads, [], 'nothing pending on the server');
    t.notOk(mem.objects.has('dst'), 'no object made');
    await copyObject(o, 'src', 'dst', 3 * P);
    t.ok(mem.objects.get('dst')?.data.equals(data(3 * P)), 'a second copy works');
    t.equal(mem.objects.get('dst')?.metadata.mode, '33188', "with the source's metadata");
    t.equal(store.calls.abortMultipart, 1, 'and aborts nothing');
  });
}
