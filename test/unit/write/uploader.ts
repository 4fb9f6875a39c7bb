// Uploader: the copy made when metadata changed during an eager upload honours
// --copy-threshold; the ETag of a completed multipart upload is never empty.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { EagerUpload } from '../../../src/write/eager-upload.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { StagingArea } from '../../../src/write/staging.js';
import { Uploader } from '../../../src/write/uploader.js';
import { eventually } from '../../fixtures/helpers.js';

const P = 5 * 1024 * 1024;

async function setup(t: { teardown(f: () => unknown): void }, copyThresholdBytes?: number) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-uploader-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new MemoryObjectStore();
  const logger = nullLogger();
  const requests = new Semaphore(4);
  const parts = new PartBuffers(2, P);
  const staging = new StagingArea(dir, 'u1', logger);
  await staging.init();
  const uploader = new Uploader({
    store,
    requests,
    parts,
    partBytes: P,
    partConcurrency: 2,
    copyThresholdBytes,
    logger,
  });
  return { store, staging, uploader, eagerDeps: { store, requests, parts, logger } };
}

function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 997) b[i] = i % 251;
  return b;
}

t.test('metadata changed during an eager upload: the copy honours copyThresholdBytes', async (t) => {
  const { store, staging, uploader, eagerDeps } = await setup(t, P);
  const f = await staging.create('big', { mode: '33188' });
  f.eager = new EagerUpload(f, P, eagerDeps);
  const body = data(2 * P + 10);
  await f.write(body, 0);
  t.ok(
    await eventually(() => store.calls.uploadPart === 2, 5000, 20),
    'two parts went out while the file was written',
  );
  await f.setMetadata({ mode: '33261' });
  const res = await uploader.upload(f);
  t.equal(store.calls.copy, undefined, 'no CopyObject for an object over the threshold');
  t.ok((store.calls.uploadPartCopy ?? 0) >= 2, 'a multipart copy instead');
  const o = store.objects.get('big');
  t.ok(o?.data.equals(body), 'the object holds the data');
  t.equal(o?.metadata.mode, '33261', 'and the new metadata');
  t.equal(res.etag, o?.etag, "the ETag returned is the object's");
  await f.remove();
});

t.test("without copyThresholdBytes, S3's CopyObject limit applies", async (t) => {
  const { store, staging, uploader, eagerDeps } = await setup(t);
  const f = await staging.create('big', { mode: '33188' });
  f.eager = new EagerUpload(f, P, eagerDeps);
  await f.write(data(2 * P + 10), 0);
  t.ok(
    await eventually(() => store.calls.uploadPart === 2, 5000, 20),
    'two parts went out while the file was written',
  );
  await f.setMetadata({ mode: '33261' });
  await uploader.upload(f);
  t.equal(store.calls.copy, 1, 'one CopyObject');
  t.equal(store.calls.uploadPartCopy, undefined, 'no multipart copy');
  await f.remove();
});

t.test(
  'CompleteMultipartUpload answered with an empty ETag (Ceph RGW): the ETag comes from a HEAD',
  async (t) => {
    for (const how of ['multipart', 'eager', 'eager, then a multipart copy'] as const) {
      const { store, staging, uploader, eagerDeps } = await setup(t, P);
      store.emptyCompleteEtag = true;
      const f = await staging.create(how, { mode: '33188' });
      const body = data(2 * P + 10);
      if (how !== 'multipart') f.eager = new EagerUpload(f, P, eagerDeps);
      await f.write(body, 0);
      if (how !== 'multipart')
        t.ok(
          await eventually(() => store.calls.uploadPart === 2, 5000, 20),
          `${how}: two parts went out while the file was written`,
        );
      if (how === 'eager, then a multipart copy') await f.setMetadata({ mode: '33261' });
      const res = await uploader.upload(f);
      const o = store.objects.get(how);
      t.ok(o?.data.equals(body), `${how}: the object holds the data`);
      t.not(res.etag, '', `${how}: the ETag is not empty`);
      t.equal(res.etag, o?.etag, `${how}: it is the object's`);
      t.equal(
        store.calls.completeMultipart,
        how === 'eager, then a multipart copy' ? 2 : 1,
        `${how}: completions`,
      );
      t.equal(store.calls.head, store.calls.completeMultipart, `${how}: one HEAD after each`);
      await f.remove();
    }
  },
);
