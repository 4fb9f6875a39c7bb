// LeanS3: the store's two hot requests, a PutObject of a body in memory and a ranged
// GetObject into block memory, built and signed here (sigv4.ts) and sent on DirectHttp,
// without the SDK. The SDK's CPU per request (middleware stack, serializers, endpoint
// rules, signer) was about a third of the daemon's busy time for 1,000 small files
// (docs/PERFORMANCE.md). Only path-style over plain http (Ceph RGW's usual setup); the
// store sends everything else through the SDK.
//
// The contract is the SDK path's: every attempt paced and retried by the mount's
// S3RetryStrategy (the SDK's error types, decided as its retry middleware does), keys
// asked for again when the server rejects them, the clock corrected when the server
// says it is skewed, the call's deadline, response checks, S3 error codes from the body.
import { createHash } from 'node:crypto';
import { isRejectedKeys, type RefreshingCredentials } from './credential-refresh.js';
import type { Credentials } from './credentials.js';
import { abortError, type BodyDest, type DirectHttp, type DirectResponse } from './direct-http.js';
import { countingDest, rangeExpectation } from './range-get.js';
import { checkRangeHead, checkResponseHead } from './response-check.js';
import type { RetryErrorInfo, RetryToken, S3RetryStrategy } from './retry.js';
import { EMPTY_SHA256, objectPath, sha256Hex, SigV4Signer } from './sigv4.js';
import type { PutParams, RangeRequest, WriteResult } from './store.js';
import { decodeText, normalizeEtag } from './xml-values.js';

export interface LeanOptions {
  /** plain-http endpoint, path-style */
  endpoint: URL;
  region: string;
  credentials: RefreshingCredentials;
  retry: S3RetryStrategy;
  direct: DirectHttp;
  nowMs?: () => number;
}

/** An S3 error answer, shaped as the SDK's errors are (classifyError and the retry read it). */
export class S3HttpError extends Error {
  readonly Code: string;
  readonly $metadata: { httpStatusCode: number };
  constructor(status: number, code: string | undefined, message: string | undefined) {
    super(message || `HTTP ${status}`);
    this.name = code ?? `Http${status}`;
    this.Code = this.name;
    this.$metadata = { httpStatusCode: status };
  }
}

/** thrown by an attempt that must not be retried (body bytes already handed out) */
class Final extends Error {
  constructor(readonly error: unknown) {
    super('final');
  }
}

/** header values sent as they are: printable ASCII (anything else goes through the SDK) */
const PLAIN = /^[\x20-\x7e]*$/;
/** the server's skew is corrected when it is off by this much (as the SDK does) */
const SKEW_MS = 5 * 60 * 1000;
const SKEW_CODES = new Set([
  'AuthFailure',
  'InvalidSignatureException',
  'RequestExpired',
  'RequestInTheFuture',
  'RequestTimeTooSkewed',
  'SignatureDoesNotMatch',
]);
/** the SDK's throttling codes (@smithy/service-error-classification) */
const THROTTLING_CODES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);
const TRANSIENT_CODES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_NET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);

export class LeanS3 {
  private readonly signer: SigV4Signer;
  private readonly host: string;
  private readonly port: number;
  /** the Host header (signed): the port unless it is 80 */
  private readonly hostHeader: string;
  private readonly nowMs: () => number;
  private clockOffsetMs = 0;

  constructor(private readonly o: LeanOptions) {
    this.signer = new SigV4Signer(o.region);
    this.host = o.endpoint.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(o.endpoint.port || 80);
    this.hostHeader = o.endpoint.port ? `${o.endpoint.hostname}:${o.endpoint.port}` : o.endpoint.hostname;
    this.nowMs = o.nowMs ?? Date.now;
  }

  /**
   * The lean client of a store's options, or undefined when the SDK must send everything:
   * https, virtual-hosted style, a path on the endpoint, or no retry strategy.
   */
  static forStore(
    o: {
      endpoint?: string;
      pathStyle: boolean;
      region: string;
      credentials: RefreshingCredentials;
      retry?: S3RetryStrategy;
    },
    direct: DirectHttp,
  ): LeanS3 | undefined {
    if (o.endpoint === undefined || !o.pathStyle || !o.retry) return undefined;
    let u: URL;
    try {
      u = new URL(o.endpoint);
    } catch {
      return undefined;
    }
    if (u.protocol !== 'http:' || (u.pathname !== '/' && u.pathname !== '') || u.search) return undefined;
    return new LeanS3({ endpoint: u, region: o.region, credentials: o.credentials, retry: o.retry, direct });
  }

  /** Whether put() can send `p` (a body in memory, headers in plain ASCII). */
  static canPut(p: PutParams, contentType: string | undefined): p is PutParams & { body: Uint8Array } {
    if (!(p.body instanceof Uint8Array) || p.body.length !== p.contentLength) return false;
    if (contentType !== undefined && !PLAIN.test(contentType)) return false;
    return Object.entries(p.metadata ?? {}).every(([k, v]) => /^[A-Za-z0-9_.-]+$/.test(k) && PLAIN.test(v));
  }

  async put(
    bucket: string,
    p: PutParams & { body: Uint8Array },
    contentType: string | undefined,
    signal: AbortSignal,
  ): Promise<WriteResult> {
    const headers: Record<string, string> = {
      'content-length': String(p.body.length),
      'content-md5': Buffer.from(p.md5 ?? createHash('md5').update(p.body).digest()).toString('base64'),
    };
    if (contentType !== undefined && contentType !== '') headers['content-type'] = contentType;
    for (const [k, v] of Object.entries(p.metadata ?? {})) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    const payloadHash = p.sha256Hex ?? sha256Hex(p.body);
    const path = objectPath(bucket, p.key);
    const r = await this.attempts('PutObject', signal, async (keys) =>
      this.send(keys, 'PutObject', 'PUT', path, headers, payloadHash, p.body, undefined, 0, signal),
    );
    const sse = r.headers['x-amz-server-side-encryption'] ?? '';
    const encrypted =
      sse.startsWith('aws:kms') || r.headers['x-amz-server-side-encryption-customer-algorithm'];
    return { etag: normalizeEtag(r.headers.etag), ...(encrypted ? { etagNotMd5: true as const } : {}) };
  }

  /**
   * Bytes [start, end) of `req.key` into `dest`. As with the SDK path (range-get.ts), a
   * failure after the first body byte is not retried: the caller asks again for what is
   * missing. Resolves with the bytes delivered.
   */
  async readInto(bucket: string, req: RangeRequest, dest: BodyDest, signal: AbortSignal): Promise<number> {
    const headers: Record<string, string> = { range: `bytes=${req.start}-${req.end - 1}` };
    if (req.etag) headers['if-match'] = `"${req.etag}"`;
    const expect = req.end - req.start;
    const want = rangeExpectation(req);
    const { counted, delivered, final } = countingDest(dest, req.key, expect);
    const path = objectPath(bucket, req.key);
    try {
      await this.attempts('GetObject', signal, async (keys) => {
        try {
          return await this.send(
            keys,
            'GetObject',
            'GET',
            path,
            headers,
            EMPTY_SHA256,
            undefined,
            counted,
            expect,
            signal,
            (h) => checkRangeHead(want, h.statusCode, h.headers, normalizeEtag),
          );
        } catch (err) {
          throw delivered() > 0 ? new Final(err) : err;
        }
      });
    } catch (err) {
      if (delivered() === 0) throw err;
      throw final(err);
    }
    return delivered();
  }

  /** One attempt: signed with `keys`, sent, its answer checked; an error answer thrown as S3HttpError. */
  private async send(
    keys: Credentials,
    op: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    payloadHash: string,
    body: Uint8Array | undefined,
    dest: BodyDest | undefined,
    expect: number,
    signal: AbortSignal,
    onHead?: (r: DirectResponse) => void,
  ): Promise<DirectResponse> {
    const signed = this.signer.sign(
      { method, host: this.hostHeader, path, headers, payloadHash },
      keys,
      this.nowMs() + this.clockOffsetMs,
    );
    const request = {
      method,
      host: this.host,
      port: this.port,
      target: path,
      headers: signed,
      ...(body ? { body } : {}),
    };
    const r = await this.o.direct.request(request, dest, expect, signal, onHead);
    if (r.statusCode >= 200 && r.statusCode < 300) {
      checkResponseHead(op, r.statusCode, r.headers);
      return r;
    }
    const err = errorOf(r);
    this.correctSkew(err, r.headers.date);
    throw err;
  }

  /**
   * Attempts of one request, each signed with the keys current when it starts, paced and
   * retried by the mount's strategy, until the deadline.
   */
  private async attempts<T>(
    op: string,
    signal: AbortSignal,
    once: (keys: Credentials) => Promise<T>,
  ): Promise<T> {
    let token: RetryToken = await untilAborted(this.o.retry.acquireInitialRetryToken(op), signal);
    for (;;) {
      let used: Credentials | undefined;
      try {
        used = await this.o.credentials.get();
        const out = await once(used);
        this.o.retry.recordSuccess(token);
        return out;
      } catch (caught) {
        if (caught instanceof Final) throw caught.error;
        if (signal.aborted) throw abortError(caught);
        let info: RetryErrorInfo = {
          errorType: errorType(caught, this.skewCorrected(caught)),
          error: caught,
        };
        if (used && isRejectedKeys(caught) && (await this.o.credentials.rejected(used)))
          info = { errorType: 'TRANSIENT', error: caught };
        try {
          token = await untilAborted(this.o.retry.refreshRetryTokenForRetry(token, info), signal);
        } catch {
          throw signal.aborted ? abortError(caught) : caught;
        }
      }
    }
  }

  /** Takes the server's clock (its Date header) when it says ours is off, as the SDK does. */
  private correctSkew(err: S3HttpError, date: string | undefined): void {
    if (!SKEW_CODES.has(err.Code) || date === undefined) return;
    const server = Date.parse(date);
    if (Number.isNaN(server)) return;
    const offset = server - this.nowMs();
    if (Math.abs(offset - this.clockOffsetMs) >= SKEW_MS) {
      this.clockOffsetMs = offset;
      Object.assign(err, { $skewCorrected: true });
    }
  }

  private skewCorrected(err: unknown): boolean {
    return (err as { $skewCorrected?: boolean }).$skewCorrected === true;
  }
}

/** The S3 error in an answer's XML body (Code, Message), or its status alone. */
export function errorOf(r: DirectResponse): S3HttpError {
  const text = r.body.length > 0 ? r.body.toString('utf8') : '';
  const field = (name: string) => {
    const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(text);
    if (!m) return undefined;
    try {
      return decodeText(m[1] as string);
    } catch {
      return m[1];
    }
  };
  const code = /<Error[\s>]/.test(text) ? field('Code') : undefined;
  return new S3HttpError(r.statusCode, code, field('Message'));
}

/** The SDK's retry decision for an attempt's error (its StandardRetryStrategy types). */
export function errorType(err: unknown, skewCorrected = false): RetryErrorInfo['errorType'] {
  const e = (err ?? {}) as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (skewCorrected) return 'TRANSIENT';
  if (status === 429 || THROTTLING_CODES.has(e.name ?? '')) return 'THROTTLING';
  if (TRANSIENT_CODES.has(e.name ?? '') || TRANSIENT_NET_CODES.has(e.code ?? '')) return 'TRANSIENT';
  if (status !== undefined && TRANSIENT_STATUS.has(status)) return 'TRANSIENT';
  if (status !== undefined && status >= 500) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

/** `p`, or an abort as soon as `signal` fires (the strategy's waits are not abortable). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
