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
  t.equal(classifyError({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }, 'op').kind, 'InvalidCredentials');
  t.equal(classifyError({ name: 'Unknown', $metadata: { httpStatusCode: 403 } }, 'op').kind, 'AccessDenied');
  t.equal(classifyError({ name: 'Unknown', $metadata: { httpStatusCode: 412 } }, 'op').kind, 'PreconditionFailed');
  t.equal(classifyError({ code: 'ECONNREFUSED' }, 'op').kind, 'Unreachable');
  t.equal(classifyError({ name: 'TimeoutError' }, 'op').kind, 'Timeout');
  t.equal(classifyError({ name: 'Weird', $metadata: { httpStatusCode: 500 } }, 'op').kind, 'Other');
});
