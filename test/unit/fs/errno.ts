import t from 'tap';
import { fsError, toErrno } from '../../../src/fs/errno.js';
import { classifyError, StoreError } from '../../../src/s3/errors.js';

t.test('one errno per error kind', async (t) => {
  t.match(toErrno(fsError('EISDIR', 'x')), { code: 'EISDIR', errno: -21, level: 'debug' });
  t.match(toErrno(new StoreError('NotFound', 'x')), { code: 'ENOENT', errno: -2, level: 'debug' });
  t.match(toErrno(new StoreError('PreconditionFailed', 'x')), { code: 'ESTALE', errno: -116 });
  t.match(toErrno(new StoreError('AccessDenied', 'x')), { code: 'EACCES' });
  t.match(toErrno(new StoreError('Timeout', 'x')), { code: 'ETIMEDOUT' });
  t.match(toErrno(new StoreError('QuotaExceeded', 'x')), { code: 'ENOSPC' });
  t.match(toErrno(new Error('bug')), { code: 'EIO', level: 'error' });
});

t.test('SDK errors are classified', async (t) => {
  t.equal(classifyError({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, 'op').kind, 'NotFound');
  t.equal(classifyError({ name: 'NotFound', $metadata: { httpStatusCode: 404 } }, 'op').kind, 'NotFound');
  t.equal(
    classifyError({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }, 'op').kind,
    'InvalidCredentials',
  );
  t.equal(classifyError({ name: 'Unknown', $metadata: { httpStatusCode: 403 } }, 'op').kind, 'AccessDenied');
  t.equal(
    classifyError({ name: 'Unknown', $metadata: { httpStatusCode: 412 } }, 'op').kind,
    'PreconditionFailed',
  );
  t.equal(classifyError({ code: 'ECONNREFUSED' }, 'op').kind, 'Unreachable');
  t.equal(classifyError({ name: 'TimeoutError' }, 'op').kind, 'Timeout');
  t.equal(classifyError({ name: 'Weird', $metadata: { httpStatusCode: 500 } }, 'op').kind, 'Other');
});

t.test('failures that retrying cannot fix are told apart', async (t) => {
  const { isPermanentFailure } = await import('../../../src/s3/errors.js');
  const c = (name: string, status?: number) =>
    classifyError(
      { name, ...(status !== undefined ? { $metadata: { httpStatusCode: status } } : {}) },
      'PutObject',
      'k',
    );
  t.equal(c('KeyTooLongError', 400).kind, 'InvalidKey');
  t.equal(c('InvalidObjectName', 400).kind, 'InvalidKey');
  t.match(toErrno(c('KeyTooLongError', 400)), { code: 'ENAMETOOLONG' });
  t.equal(c('InvalidArgument', 400).kind, 'InvalidRequest');
  t.equal(c('Whatever', 400).kind, 'InvalidRequest', 'a 400 in general');
  t.equal(c('MethodNotAllowed', 405).kind, 'InvalidRequest');
  t.equal(c('QuotaExceeded', 403).kind, 'QuotaExceeded');
  for (const [name, status] of [
    ['KeyTooLongError', 400],
    ['InvalidArgument', 400],
    ['Whatever', 400],
    ['EntityTooLarge', 400],
    ['AccessDenied', 403],
    ['QuotaExceeded', 403],
    ['InvalidAccessKeyId', 403],
    ['NoSuchBucket', 404],
    ['NotImplemented', 501],
  ] as const) {
    t.ok(isPermanentFailure(c(name, status)), `${name} (${status}) is permanent`);
  }
  for (const [name, status] of [
    ['InternalError', 500],
    ['SlowDown', 503],
    ['NoSuchUpload', 404],
    ['BadDigest', 400],
    ['IncompleteBody', 400],
    ['InvalidPart', 400],
    ['ExpiredToken', 400],
    ['RequestTimeTooSkewed', 403],
    ['RequestTimeout', 400],
    ['ECONNRESET', undefined],
    ['TimeoutError', undefined],
    ['Conflict', 409],
  ] as const) {
    t.notOk(isPermanentFailure(c(name, status)), `${name} (${status ?? 'no status'}) is worth retrying`);
  }
  t.notOk(isPermanentFailure(new Error('bug')), 'only StoreErrors are classified');
});

t.test('a full staging disk is ENOSPC (EDQUOT over a disk quota), as on the native write path', async (t) => {
  const nodeFsError = (code: string, errno: number) =>
    Object.assign(new Error(`${code}: write`), { code, errno, syscall: 'write' });
  t.match(toErrno(nodeFsError('ENOSPC', -28)), { code: 'ENOSPC', errno: -28, level: 'warn' });
  t.match(toErrno(nodeFsError('EDQUOT', -122)), { code: 'EDQUOT', errno: -122, level: 'warn' });
  t.match(
    toErrno(nodeFsError('EBADF', -9)),
    { code: 'EIO', level: 'error' },
    'other node:fs errors stay EIO',
  );
  t.match(toErrno({ code: 'ENOSPC' }), { code: 'EIO' }, 'only from an Error');
});

t.test('bucket answers of a whole-account root: their errno, logged at info', async (t) => {
  const c = (name: string, status: number) =>
    classifyError({ name, $metadata: { httpStatusCode: status } }, 'CreateBucket');
  t.equal(c('BucketAlreadyExists', 409).kind, 'BucketExists');
  t.equal(c('BucketAlreadyOwnedByYou', 409).kind, 'BucketExists');
  t.equal(c('BucketNotEmpty', 409).kind, 'BucketNotEmpty');
  t.equal(c('InvalidBucketName', 400).kind, 'InvalidBucketName');
  t.match(toErrno(c('BucketAlreadyOwnedByYou', 409)), { code: 'EEXIST', level: 'info' });
  t.match(toErrno(c('BucketNotEmpty', 409)), { code: 'ENOTEMPTY', level: 'info' });
  t.match(toErrno(c('InvalidBucketName', 400)), { code: 'EINVAL', level: 'info' });
  t.match(toErrno(fsError('EXDEV', 'across buckets')), { code: 'EXDEV', level: 'info' });
  t.match(toErrno(fsError('EPERM', 'a file at the root')), { code: 'EPERM', level: 'info' });
});
