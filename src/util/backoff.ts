// Exponential backoff with jitter: the one formula behind retries of S3 requests
// (s3/retry.ts) and of uploads (write/upload-queue.ts). Jitter keeps the retries of many
// requests that failed together (a server restart, a SlowDown storm) from coming back
// together.

export interface BackoffPolicy {
  /** the ceiling before the first retry */
  baseMs: number;
  /** the ceiling never grows past this */
  maxMs: number;
}

/** The ceiling of the wait before retry `n` (1 = the first): base * 2^(n-1), at most max. */
export function backoffCeilingMs(n: number, p: BackoffPolicy): number {
  return Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, Math.min(n - 1, 30)));
}

/**
 * "Full jitter": uniform in [0, ceiling]. Spreads retries best; what the AWS SDKs do for
 * requests, where a short wait is fine.
 */
export function fullJitterMs(n: number, p: BackoffPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeilingMs(n, p));
}

/**
 * "Equal jitter": uniform in [ceiling/2, ceiling]. Never much sooner than the ceiling:
 * for retries of whole uploads, where going again at once would only fail again.
 */
export function equalJitterMs(n: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const c = backoffCeilingMs(n, p);
  return Math.floor(c / 2 + random() * (c / 2));
}
