// The checks that make an answer count as S3: pure functions, every rule both ways.
import t from 'tap';
import { checkRangeHead, checkResponseHead } from '../../../src/s3/response-check.js';
import { normalizeEtag } from '../../../src/s3/sdk-store.js';

t.test('checkResponseHead', async (t) => {
  const html = { 'content-type': 'text/html; charset=utf-8', etag: '"x"', 'content-length': '10' };
  for (const op of [
    'HeadBucket',
    'ListObjectsV2',
    'PutObject',
    'UploadPart',
    'CompleteMultipartUpload',
    'DeleteObject',
    'CopyObject',
  ]) {
    t.throws(
      () => checkResponseHead(op, 200, html),
      { name: 'StoreError', kind: 'InvalidResponse' },
      `${op}: an HTML page is not S3`,
    );
  }
  t.doesNotThrow(() => checkResponseHead('GetObject', 206, html), 'an object may be HTML');
  t.doesNotThrow(
    () => checkResponseHead('HeadObject', 200, { ...html, 'last-modified': 'x' }),
    'and so may its HEAD',
  );
  t.doesNotThrow(() => checkResponseHead('HeadBucket', 404, html), "errors are the SDK's business");
  t.throws(
    () => checkResponseHead('PutObject', 200, { 'content-type': 'text/plain' }),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'PUT without an ETag',
  );
  t.doesNotThrow(() => checkResponseHead('PutObject', 200, { etag: '"abc"' }), 'PUT with one');
  t.throws(
    () => checkResponseHead('UploadPart', 200, {}),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'part without an ETag',
  );
  t.throws(
    () => checkResponseHead('HeadObject', 200, { etag: '"a"' }),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'HEAD without Content-Length',
  );
  t.throws(
    () => checkResponseHead('HeadObject', 200, { 'content-length': '3' }),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'HEAD without ETag or Last-Modified',
  );
  t.doesNotThrow(() => checkResponseHead('HeadObject', 200, { 'content-length': '3', etag: '"a"' }));
});

t.test('checkRangeHead', async (t) => {
  const want = { key: 'k', start: 100, end: 200, etag: 'abc' };
  const ok = { 'content-length': '100', 'content-range': 'bytes 100-199/1000', etag: '"abc"' };
  t.doesNotThrow(() => checkRangeHead(want, 206, ok, normalizeEtag), 'the bytes asked');
  t.throws(
    () => checkRangeHead(want, 206, { ...ok, 'content-range': 'bytes 0-99/1000' }, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'other bytes',
  );
  t.throws(
    () => checkRangeHead(want, 206, { ...ok, 'content-range': undefined }, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'no Content-Range',
  );
  t.throws(
    () => checkRangeHead(want, 206, { ...ok, 'content-length': '99' }, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'a shorter body',
  );
  t.throws(
    () => checkRangeHead(want, 206, { ...ok, etag: '"zzz"' }, normalizeEtag),
    { name: 'StoreError', kind: 'PreconditionFailed' },
    'another version',
  );
  t.throws(
    () => checkRangeHead(want, 206, { ...ok, etag: undefined }, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'no ETag when pinned',
  );
  t.throws(
    () => checkRangeHead(want, 200, { 'content-length': '100', etag: '"abc"' }, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    '200 for a range not at 0',
  );
  t.doesNotThrow(
    () => checkRangeHead({ key: 'k', start: 0, end: 5 }, 200, { 'content-length': '5' }, normalizeEtag),
    '200 for a whole object of exactly the size asked',
  );
  t.throws(
    () => checkRangeHead({ key: 'k', start: 0, end: 5 }, 200, { 'content-length': '500' }, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    '200 with more than asked (Range ignored)',
  );
  // unpinned (a version known without an ETag): the object's size stands for its version
  const sized = { key: 'k', start: 0, end: 100, objectSize: 8129 };
  t.doesNotThrow(
    () =>
      checkRangeHead(
        sized,
        206,
        { 'content-length': '100', 'content-range': 'bytes 0-99/8129' },
        normalizeEtag,
      ),
    'a range of an object of the size known',
  );
  t.throws(
    () =>
      checkRangeHead(
        sized,
        206,
        { 'content-length': '100', 'content-range': 'bytes 0-99/14466' },
        normalizeEtag,
      ),
    { name: 'StoreError', kind: 'PreconditionFailed' },
    'a range of an object of another size: another version, cut at the size known',
  );
  t.throws(
    () => checkRangeHead({ ...sized, end: 8129 }, 200, { 'content-length': '14466' }, normalizeEtag),
    { name: 'StoreError', kind: 'PreconditionFailed' },
    'a whole object (200) of another size',
  );
  t.throws(
    () => checkRangeHead(want, 304, ok, normalizeEtag),
    { name: 'StoreError', kind: 'InvalidResponse' },
    'another status',
  );
});
