// StoreError: the single vocabulary for everything that can go wrong talking to S3.
// sdk-store.ts translates SDK/HTTP errors into it; fs/errno.ts maps it to errno.

export type StoreErrorKind =
  | 'NotFound' // key does not exist
  | 'NoSuchBucket'
  | 'AccessDenied'
  | 'InvalidCredentials' // unknown access key or bad signature
  | 'PreconditionFailed' // If-Match failed: the object changed
  | 'InvalidRange'
  | 'Unreachable' // connection refused, DNS, reset
  | 'Timeout'
  | 'Throttled'
  | 'EntityTooLarge'
  | 'QuotaExceeded'
  | 'NotImplemented'
  | 'InvalidResponse' // the answer is not a valid S3 answer to the request (not S3, or cut)
  | 'InvalidKey' // the server refuses the key: too long, or not a valid name
  | 'InvalidRequest' // 400 and the like: the request itself is wrong, sending it again cannot help
  | 'BucketExists' // CreateBucket: the name is taken (by you or anyone)
  | 'BucketNotEmpty' // DeleteBucket of a bucket that has keys
  | 'InvalidBucketName' // CreateBucket: the server refuses the name
  | 'Other';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly detail: { key?: string; op?: string; status?: number; code?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export function isStoreError(e: unknown, kind?: StoreErrorKind): e is StoreError {
  return e instanceof StoreError && (kind === undefined || e.kind === kind);
}

/**
 * Failures that sending the same request again cannot fix: a write that fails so is not
 * retried in the background (it waits, staged, for the next mount or a new write).
 * Everything else (network, timeouts, 5xx, throttling, and 'Other') is retried.
 */
const PERMANENT_KINDS: ReadonlySet<StoreErrorKind> = new Set<StoreErrorKind>([
  'NoSuchBucket',
  'AccessDenied',
  'InvalidCredentials',
  'EntityTooLarge',
  'QuotaExceeded',
  'NotImplemented',
  'InvalidKey',
  'InvalidRequest',
  'BucketExists',
  'BucketNotEmpty',
  'InvalidBucketName',
]);
/** ...except these codes of those kinds, which clear by themselves: fresh credentials, a corrected clock */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ExpiredToken',
  'TokenRefreshRequired',
  'RequestTimeTooSkewed',
]);

export function isPermanentFailure(e: unknown): e is StoreError {
  return e instanceof StoreError && PERMANENT_KINDS.has(e.kind) && !TRANSIENT_CODES.has(e.detail.code ?? '');
}

/** 4xx codes that say the request was malformed; retrying it unchanged cannot help */
const INVALID_REQUEST_CODES: ReadonlySet<string> = new Set([
  'InvalidArgument',
  'InvalidRequest',
  'MalformedXML',
  'EntityTooSmall',
  'MetadataTooLarge',
  'InvalidStorageClass',
  'InvalidBucketName',
  'MethodNotAllowed',
  'MissingContentLength',
  'InvalidDigest',
  'InvalidURI',
  'UnexpectedContent',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

/** Classifies any error thrown by the SDK or the HTTP stack. Pure, unit-tested. */
export function classifyError(err: unknown, op: string, key?: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkLikeError;
  const code = e.Code ?? e.code ?? e.name ?? 'Unknown';
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const detail = {
    op,
    ...(key !== undefined ? { key } : {}),
    ...(status !== undefined ? { status } : {}),
    code,
  };
  const mk = (kind: StoreErrorKind, msg: string) => new StoreError(kind, msg, detail, { cause: err });

  if (NETWORK_CODES.has(code) || NETWORK_CODES.has(String(e.code)))
    return mk('Unreachable', `cannot reach the S3 endpoint (${code})`);
  if (
    code === 'AbortError' ||
    code === 'TimeoutError' ||
    code === 'RequestTimeout' ||
    code === 'ETIMEDOUT' ||
    code === 'ESOCKETTIMEDOUT'
  ) {
    return mk('Timeout', `S3 request timed out (${op})`);
  }
  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
      return status === 404 || status === undefined
        ? mk('NotFound', 'no such key')
        : mk('Other', `${code} (${status})`);
    case 'NoSuchBucket':
      return mk('NoSuchBucket', 'no such bucket');
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'InvalidToken':
    case 'ExpiredToken':
    case 'AuthorizationHeaderMalformed':
      return mk('InvalidCredentials', `credentials rejected (${code})`);
    case 'AccessDenied':
    case 'Forbidden':
    case 'AllAccessDisabled':
      return mk('AccessDenied', 'access denied');
    case 'PreconditionFailed':
      return mk('PreconditionFailed', 'object changed (ETag mismatch)');
    case 'InvalidRange':
      return mk('InvalidRange', 'invalid range');
    case 'SlowDown':
    case 'Throttling':
    case 'ServiceUnavailable':
    case 'RequestLimitExceeded':
      return mk('Throttled', `server busy (${code})`);
    case 'EntityTooLarge':
      return mk('EntityTooLarge', 'object too large');
    case 'QuotaExceeded':
      return mk('QuotaExceeded', 'quota exceeded');
    case 'NotImplemented':
      return mk('NotImplemented', 'not implemented by the server');
    case 'BucketAlreadyExists':
    case 'BucketAlreadyOwnedByYou':
      return mk('BucketExists', `the bucket exists (${code})`);
    case 'BucketNotEmpty':
      return mk('BucketNotEmpty', 'the bucket is not empty');
    case 'InvalidBucketName':
      return mk('InvalidBucketName', 'the server refuses the bucket name');
    case 'KeyTooLongError':
    case 'InvalidObjectName':
      return mk('InvalidKey', `the server refuses the key (${code})`);
    // 400s that a retry can fix: a body damaged or cut short on the way, parts of an
    // upload the server lost (the whole upload is sent again), an expired token
    case 'BadDigest':
    case 'XAmzContentSHA256Mismatch':
    case 'IncompleteBody':
    case 'InvalidPart':
    case 'InvalidPartOrder':
      return mk('Other', `S3 ${op} failed: ${code}${status !== undefined ? ` (HTTP ${status})` : ''}`);
  }
  if (INVALID_REQUEST_CODES.has(code))
    return mk('InvalidRequest', `the server refuses the request (${code})`);
  switch (status) {
    case 404:
      return mk('NotFound', 'not found');
    case 403:
      return mk('AccessDenied', 'access denied');
    case 412:
      return mk('PreconditionFailed', 'object changed (ETag mismatch)');
    case 416:
      return mk('InvalidRange', 'invalid range');
    case 429:
    case 503:
      return mk('Throttled', `server busy (${status})`);
    case 501:
      return mk('NotImplemented', 'not implemented by the server');
    case 413:
      return mk('EntityTooLarge', 'object too large');
    case 414:
      return mk('InvalidKey', 'the server refuses the key (URI too long)');
    case 400:
    case 405:
    case 411:
      return mk('InvalidRequest', `the server refuses the request (${code}, HTTP ${status})`);
  }
  return mk('Other', `S3 ${op} failed: ${code}${status !== undefined ? ` (HTTP ${status})` : ''}`);
}
