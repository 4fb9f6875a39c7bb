// Upload integrity (src/write/checksum.ts and its use by the uploader): every body goes with
// its MD5 and the ETag answered must match; the multipart ETag is checked when the server
// gives one; the whole object's SHA-256 lands in its metadata, however it was uploaded.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { StoreError } from '../../../src/s3/errors.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import {
  CHECKSUM_METADATA,
  checkCompleteEtag,
  checkWriteEtag,
  multipartEtag,
  OrderedHash,
} from '../../../src/write/checksum.js';
import { EagerUpload } from '../../../src/write/eager-upload.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { StagingArea } from '../../../src/write/staging.js';
import { Uploader } from '../../../src/write/uploader.js';
import { FaultyObjectStore } from '../../fixtures/faulty-store.js';
import { eventually, sha256 } from '../../fixtures/helpers.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const P = 5 * 1024 * 1024;
const md5hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

function data(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 997) b[i] = (i + seed) % 251;
  return b;
}

async function setup(t: { teardown(f: () => unknown): void }, copyThresholdBytes?: number) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-checksum-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const memory = new MemoryObjectStore();
  const store = new FaultyObjectStore(memory);
  const logger = nullLogger();
  const requests = new Semaphore(4);
  const parts = new PartBuffers(3, P);
  const staging = new StagingArea(dir, 'u1', logger);
  await staging.init();
  const uploader = new Uploader({
    store,
    requests,
    parts,
    partBytes: P,
    partConcurrency: 2,
    ...(copyThresholdBytes !== undefined ? { copyThresholdBytes } : {}),
    logger,
  });
  return { memory, store, staging, uploader, eagerDeps: { store, requests, parts, logger } };
}

t.test('checkWriteEtag: the MD5 of the bytes sent, unless S3 says its ETag is something else', async (t) => {
  const body = Buffer.from('hello');
  const md5 = createHash('md5').update(body).digest();
  t.doesNotThrow(() => checkWriteEtag('PutObject', 'k', { etag: md5hex(body) }, md5));
  t.doesNotThrow(() => checkWriteEtag('PutObject', 'k', { etag: md5hex(body).toUpperCase() }, md5));
  t.throws(() => checkWriteEtag('PutObject', 'k', { etag: md5hex(Buffer.from('other')) }, md5), {
    name: 'StoreError',
    kind: 'Other',
    detail: { code: 'ETagMismatch' },
  });
  t.throws(() => checkWriteEtag('UploadPart', 'k', { etag: '' }, md5), {
    name: 'StoreError',
    detail: { code: 'ETagMismatch' },
  });
  t.doesNotThrow(
    () => checkWriteEtag('PutObject', 'k', { etag: 'kms-etag', etagNotMd5: true }, md5),
    'SSE-KMS / SSE-C: not an MD5',
  );
});

t.test("multipart ETag: MD5 of the parts' MD5s, then -N; checked only in that form", async (t) => {
  const a = Buffer.from('part one');
  const b = Buffer.from('part two');
  const parts = [
    { partNumber: 1, etag: md5hex(a) },
    { partNumber: 2, etag: md5hex(b) },
  ];
  const want = `${createHash('md5')
    .update(Buffer.concat([Buffer.from(md5hex(a), 'hex'), Buffer.from(md5hex(b), 'hex')]))
    .digest('hex')}-2`;
  t.equal(multipartEtag(parts), want);
  t.equal(multipartEtag([{ partNumber: 1, etag: 'not-md5' }]), undefined, 'parts without MD5 ETags: unknown');
  t.doesNotThrow(() => checkCompleteEtag('k', want, parts), 'the right one');
  t.doesNotThrow(() => checkCompleteEtag('k', '', parts), "Ceph RGW's empty ETag");
  t.doesNotThrow(() => checkCompleteEtag('k', md5hex(Buffer.concat([a, b])), parts), "s3rver's whole MD5");
  t.throws(() => checkCompleteEtag('k', `${'0'.repeat(32)}-2`, parts), {
    name: 'StoreError',
    detail: { code: 'ETagMismatch' },
  });
});

t.test('OrderedHash: pieces fed out of order hash in order; a skipped piece makes it unknown', async (t) => {
  const pieces = [Buffer.from('a'), Buffer.from('bb'), Buffer.from('ccc')];
  const h = new OrderedHash(1);
  await Promise.all([
    h.feed(3, pieces[2] as Buffer),
    h.feed(2, pieces[1] as Buffer),
    h.feed(1, pieces[0] as Buffer),
  ]);
  t.equal(await h.digest(4), sha256(Buffer.concat(pieces)));
  const g = new OrderedHash(1);
  const later = g.feed(3, Buffer.from('x'));
  g.skip(2);
  await g.feed(1, Buffer.from('y'));
  await later; // does not wait forever for the skipped piece
  t.equal(await g.digest(4), undefined, 'unknown');
  t.equal(await new OrderedHash(1).digest(2), undefined, 'not all pieces in: unknown');
});

t.test('the SHA-256 lands in the metadata: single PUT, multipart, eager (self-copy)', async (t) => {
  for (const how of ['put', 'multipart', 'eager'] as const) {
    const { memory, staging, uploader, eagerDeps } = await setup(t);
    const size = how === 'put' ? 1000 : 2 * P + 10;
    const body = data(size, how.length);
    // a checksum carried over from an older version of the object is never kept
    const f = await staging.create(how, { mode: '33188', [CHECKSUM_METADATA]: 'stale' });
    if (how === 'eager') f.eager = new EagerUpload(f, P, eagerDeps);
    await f.write(body, 0);
    if (how === 'eager')
      t.ok(
        await eventually(() => memory.calls.uploadPart === 2, 5000, 20),
        'eager: two parts went out early',
      );
    const res = await uploader.upload(f);
    const o = memory.objects.get(how);
    t.ok(o?.data.equals(body), `${how}: the object holds the data`);
    t.equal(o?.metadata[CHECKSUM_METADATA], sha256(body), `${how}: its SHA-256 is in the metadata`);
    t.equal(o?.metadata.mode, '33188', `${how}: the other metadata stays`);
    t.same(res.metadata, o?.metadata, `${how}: the result says what the object carries`);
    t.equal(res.etag, o?.etag, `${how}: the ETag is the object's`);
    t.equal(memory.calls.copy, how === 'eager' ? 1 : undefined, `${how}: copies`);
    await f.remove();
  }
});

t.test('an eager upload over the copy threshold: no copy, no checksum (verify says so)', async (t) => {
  const { memory, staging, uploader, eagerDeps } = await setup(t, P);
  const f = await staging.create('big', { mode: '33188', [CHECKSUM_METADATA]: 'stale' });
  f.eager = new EagerUpload(f, P, eagerDeps);
  await f.write(data(2 * P + 10), 0);
  t.ok(await eventually(() => memory.calls.uploadPart === 2, 5000, 20));
  const res = await uploader.upload(f);
  t.equal(memory.calls.copy, undefined, 'no CopyObject');
  t.equal(memory.calls.uploadPartCopy, undefined, 'no multipart copy');
  t.notOk(CHECKSUM_METADATA in (memory.objects.get('big')?.metadata ?? {}), 'no checksum, not the stale one');
  t.notOk(CHECKSUM_METADATA in res.metadata);
  await f.remove();
});

t.test('the store checks Content-MD5: every PUT and part carries the MD5 of its body', async (t) => {
  const { memory, staging, uploader } = await setup(t);
  const seen: Array<string | undefined> = [];
  const put = memory.put.bind(memory);
  const part = memory.uploadPart.bind(memory);
  memory.put = async (p) => {
    seen.push(p.md5 && Buffer.from(p.md5).toString('hex'));
    return put(p);
  };
  memory.uploadPart = async (k, id, n, body, len, md5) => {
    seen.push(md5 && Buffer.from(md5).toString('hex'));
    return part(k, id, n, body, len, md5);
  };
  for (const [key, size] of [
    ['small', 100],
    ['large', 2 * P + 1],
  ] as const) {
    const f = await staging.create(key, {});
    const body = data(size);
    await f.write(body, 0);
    await uploader.upload(f);
    await f.remove();
  }
  t.equal(seen.length, 4, 'one PUT and three parts');
  t.ok(
    seen.every((h) => h !== undefined && /^[0-9a-f]{32}$/.test(h)),
    'each with an MD5',
  );
  t.equal(seen[0], md5hex(data(100)), "the PUT's is its body's");
});

t.test('a wrong ETag from the server fails the upload, which can be tried again', async (t) => {
  for (const op of ['put', 'uploadPart', 'completeMultipart'] as const) {
    const { memory, store, staging, uploader } = await setup(t);
    const size = op === 'put' ? 1000 : 2 * P + 10;
    const body = data(size, 3);
    const f = await staging.create(op, {});
    await f.write(body, 0);
    store.wrongEtag(op, 1, op === 'completeMultipart' ? `${'1'.repeat(32)}-3` : undefined);
    await t.rejects(
      uploader.upload(f),
      { name: 'StoreError', detail: { code: 'ETagMismatch' } },
      `${op}: rejected`,
    );
    t.equal(memory.pendingUploads.length, 0, `${op}: no multipart upload left behind`);
    const res = await uploader.upload(f);
    t.ok(memory.objects.get(op)?.data.equals(body), `${op}: the second attempt uploads it`);
    t.equal(res.metadata[CHECKSUM_METADATA], sha256(body));
    await f.remove();
  }
});

t.test('a body the server finds damaged (BadDigest) is refused', async (t) => {
  const memory = new MemoryObjectStore();
  await t.rejects(
    memory.put({ key: 'k', body: Buffer.from('abc'), contentLength: 3, md5: Buffer.alloc(16) }),
    new StoreError('Other', 'BadDigest'),
  );
  t.notOk(memory.objects.has('k'));
});
