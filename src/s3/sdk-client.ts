// The S3 client of a store and its connections: the SDK client's configuration (agents,
// TLS, timeouts, retries, checksums only where required), the middlewares every answer
// and signature go through, and the direct-http pool for block fills. One per mount;
// stores of other buckets share it (SdkObjectStore.forBucket).
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { credentialRefreshMiddleware, type RefreshingCredentials } from './credential-refresh.js';
import { DirectHttp } from './direct-http.js';
import { responseCheckMiddleware } from './response-check.js';
import type { S3RetryStrategy } from './retry.js';
import type { TlsSettings } from './tls.js';

export interface SdkStoreOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  /** the keys, asked for again when the server rejects them (credential-refresh.ts) */
  credentials: RefreshingCredentials;
  /** deadline for one S3 call, including retries */
  requestDeadlineMs: number;
  /** TCP connect timeout */
  connectTimeoutMs: number;
  /**
   * an attempt whose connection is silent this long (no answer yet, or a body stalled)
   * fails and is retried: the first-byte and idle deadlines
   */
  idleTimeoutMs?: number;
  maxSockets: number;
  /** retries with backoff, a retry budget and the mount-wide pace (retry.ts, rate.ts) */
  retry?: S3RetryStrategy;
  /** without `retry`: attempts of one request with the SDK's own strategy (default 3) */
  maxAttempts?: number;
  /** CAs for https (tls.ts); block fills over https go through the same agent (range-get.ts) */
  tls?: TlsSettings;
}

/**
 * Pooled connections idle this long are closed: one the network dropped silently is not
 * reused much later, and the pool gives its descriptors back when the mount is quiet.
 */
export const POOL_IDLE_MS = 10_000;

/** Makes the SDK client and the direct-http pool for `opts`. */
export function makeClients(opts: SdkStoreOptions): { client: S3Client; direct: DirectHttp } {
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, timeout: POOL_IDLE_MS };
  const config: S3ClientConfig = {
    region: opts.region,
    forcePathStyle: opts.pathStyle,
    ...(opts.retry ? { retryStrategy: opts.retry } : { maxAttempts: opts.maxAttempts ?? 3 }),
    // Older S3-compatible servers (Ceph RGW 16) reject the SDK's default
    // aws-chunked bodies with CRC trailers (411): checksums only where required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: opts.connectTimeoutMs,
      ...(opts.idleTimeoutMs !== undefined ? { socketTimeout: opts.idleTimeoutMs } : {}),
      httpAgent: new HttpAgent(agentOpts),
      httpsAgent: new HttpsAgent({ ...agentOpts, ...opts.tls }),
    },
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    credentials: unmemoized(() => opts.credentials.get()),
  };
  const client = new S3Client(config);
  // every answer must be a valid S3 answer to its request (response-check.ts)
  client.middlewareStack.addRelativeTo(responseCheckMiddleware as never, {
    relation: 'after',
    toMiddleware: 'deserializerMiddleware',
    name: 's3mountResponseCheck',
  });
  client.middlewareStack.addRelativeTo(credentialRefreshMiddleware(opts.credentials) as never, {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 's3mountCredentialRefresh',
  });
  const direct = new DirectHttp({
    connectTimeoutMs: opts.connectTimeoutMs,
    maxIdle: opts.maxSockets,
    idleMs: POOL_IDLE_MS,
    ...(opts.idleTimeoutMs !== undefined ? { responseIdleMs: opts.idleTimeoutMs } : {}),
  });
  return { client, direct };
}

/**
 * The SDK memoizes a credentials function and, for keys without an expiry, never calls it
 * again; its SigV4 signer signs with what that returns. Marked as memoized already, the
 * function is called for every signature, so new keys are used as soon as they are loaded.
 */
function unmemoized<T>(fn: () => Promise<T>): () => Promise<T> {
  return Object.assign(fn, { memoized: true });
}
