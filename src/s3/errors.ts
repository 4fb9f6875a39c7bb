// StoreError: the single vocabulary for everything that can go wrong talking to S3.
// sdk-store.ts translates SDK/HTTP errors into it; fs/errno.ts maps it to errno.

export type StoreErrorKind =
  | 'NotFound'            // key does not exist
  | 'NoSuchBucket'
  | 'AccessDenied'
  | 'InvalidCredentials'  // unknown access key or bad signature
  | 'PreconditionFailed'  // If-Match failed: the object changed
  | 'InvalidRange'
  | 'Unreachable'         // connection refused, DNS, reset
  | 'Timeout'
  | 'Throttled'
  | 'EntityTooLarge'
  | 'QuotaExceeded'
  | 'NotImplemented'
  | 'InvalidResponse'     // the answer is not a valid S3 answer to the request (not S3, or cut)
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

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

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
  const detail = { op, ...(key !== undefined ? { key } : {}), ...(status !== undefined ? { status } : {}), code };
  const mk = (kind: StoreErrorKind, msg: string) => new StoreError(kind, msg, detail, { cause: err });

  if (NETWORK_CODES.has(code) || NETWORK_CODES.has(String(e.code))) return mk('Unreachable', `cannot reach the S3 endpoint (${code})`);
  if (code === 'AbortError' || code === 'TimeoutError' || code === 'RequestTimeout' || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    return mk('Timeout', `S3 request timed out (${op})`);
  }
  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
      return status === 404 || status === undefined ? mk('NotFound', 'no such key') : mk('Other', `${code} (${status})`);
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
  }
  switch (status) {
    case 404: return mk('NotFound', 'not found');
    case 403: return mk('AccessDenied', 'access denied');
    case 412: return mk('PreconditionFailed', 'object changed (ETag mismatch)');
    case 416: return mk('InvalidRange', 'invalid range');
    case 429:
    case 503: return mk('Throttled', `server busy (${status})`);
    case 501: return mk('NotImplemented', 'not implemented by the server');
  }
  return mk('Other', `S3 ${op} failed: ${code}${status !== undefined ? ` (HTTP ${status})` : ''}`);
}
