// The control protocol between the s3mount command and a running daemon: one request per
// connection, a JSON line each way; a long request may send progress lines before its answer.
//
// Wire format (each line one JSON object, '\n'-terminated):
//   client → daemon   {"op":"status"}  |  {"op":"sync","paths":["/a"]}  |  {"op":"unmount","force":false}
//                     |  {"op":"share","paths":["/a/f"],"expiresSec":3600}
//                     |  {"op":"verify","paths":["/a"]}
//   daemon → client   {"progress":{...}}*  then  {"ok":true,"result":{...}}  or  {"ok":false,"error":"..."}
// A new request is one more member of ControlRequest and of ControlResults, and one more
// handler in the daemon's table: nothing else changes.

/** A file written through the mount that is not in S3 yet. */
export interface PendingFile {
  /** path in the mount ("/dir/name") */
  path: string;
  key: string;
  bytes: number;
  /** its data on local disk, until S3 has it */
  stagedPath: string;
  /** when it first waited for an upload (ms since the epoch) */
  sinceMs: number;
  /** the last upload failure, if any */
  lastError?: string;
  /** failed in a way retrying cannot fix: it waits for a new write or the next mount */
  parked: boolean;
}

export interface MountStatus {
  pid: number;
  mountpoint: string;
  /** without any user:password part */
  endpoint: string;
  bucket: string;
  prefix: string;
  startedAtMs: number;
  uptimeMs: number;
  stagingDir: string;
  cache: { sizeBytes: number; usedBytes: number; hits: number; misses: number; hitRatio: number };
  /** the block cache on local disk (--cache-dir), when there is one */
  diskCache?: {
    dir: string;
    sizeBytes: number;
    usedBytes: number;
    hits: number;
    misses: number;
    bytesRead: number;
    writes: number;
    bytesWritten: number;
    skipped: number;
    /** prefetches that waited for the disk writer to catch up */
    paced: number;
    /** damaged, partial or mismatched block files found and dropped */
    corrupt: number;
    evicted: number;
    /** block files FUSE threads read with pread (no JavaScript), now */
    mappedFiles: number;
    /** reads FUSE threads answered (in part) from those files */
    fileReads: number;
  };
  /** bytes read from and written to files through the mount */
  bytes: { read: number; written: number };
  s3: {
    /** requests sent, by S3 operation */
    requests: Record<string, number>;
    /** failed requests: operation → error kind → count */
    errors: Record<string, Record<string, number>>;
    downloadedBytes: number;
    uploadedBytes: number;
    /** retries and the mount-wide pace (s3/retry.ts, s3/rate.ts) */
    pacing?: S3Pacing;
  };
  uploads: {
    pendingFiles: number;
    pendingBytes: number;
    /** when the oldest pending file started waiting */
    oldestSinceMs?: number;
    lastError?: { path: string; reason: string };
    files: PendingFile[];
  };
}

export interface S3Pacing {
  /** answers that said slow down (503 SlowDown, 429) */
  throttled: number;
  /** times the mount's request rate was lowered */
  rateDecreases: number;
  /** the current limit (requests a second); absent while unlimited */
  rateLimitPerS?: number;
  /** the lowest limit since the mount started */
  lowestRatePerS?: number;
  /** requests held back by the limit, and for how long in all */
  delayedRequests: number;
  delayedMs: number;
  /** attempts sent again */
  retries: number;
  /** retries refused because the mount's retry budget was spent */
  retriesRefused: number;
}

export interface UploadProgress {
  filesLeft: number;
  bytesLeft: number;
  filesTotal: number;
  bytesTotal: number;
}

export interface NotUploaded {
  path: string;
  stagedPath: string;
  reason: string;
}

export interface SyncResult {
  /** files under the paths that were uploaded by this request or already were */
  uploaded: number;
  /** files that could not be uploaded: they stay staged */
  failed: NotUploaded[];
}

export interface UnmountResult {
  /** files left staged (failed for good, or all pending ones with force) */
  staged: NotUploaded[];
  stagingDir: string;
}

/** One path's answer to `share`: a presigned GET URL, or why there is none. */
export type ShareLink = { path: string; url: string } | { path: string; error: string };

export interface ShareResult {
  /** one per requested path, in the order asked */
  links: ShareLink[];
}

/** The longest a presigned URL can be valid: SigV4 refuses more than 7 days. */
export const SHARE_EXPIRES_MAX_SEC = 7 * 24 * 3600;
/** One file's outcome in `s3mount verify` (fs/verify.ts). */
export type VerifyStatus = 'ok' | 'mismatch' | 'no-checksum' | 'staged' | 'skipped' | 'error';

export interface VerifyEntry {
  /** path in the mount ("/dir/name") */
  path: string;
  status: VerifyStatus;
  /** why (mismatch: both hashes; skipped: what it is; error: the failure) */
  detail?: string;
}

export interface VerifyResult {
  entries: VerifyEntry[];
}

export type ControlRequest =
  | { op: 'status' }
  /** uploads everything written under these mount paths ("/" = all) now, waits, reports failures */
  | { op: 'sync'; paths: string[] }
  /** unmounts, waits for uploads (unless force) with progress lines, then the daemon exits */
  | { op: 'unmount'; force: boolean }
  /** a presigned GET URL for each file (mount paths), valid for expiresSec seconds */
  | { op: 'share'; paths: string[]; expiresSec: number }
  /** re-reads the objects at these mount paths (directories: all below) and checks their stored SHA-256 */
  | { op: 'verify'; paths: string[] };

export interface ControlResults {
  status: MountStatus;
  sync: SyncResult;
  unmount: UnmountResult;
  share: ShareResult;
  verify: VerifyResult;
}

export type ControlOp = ControlRequest['op'];

export type ControlLine =
  { progress: UploadProgress } | { ok: true; result: unknown } | { ok: false; error: string };

/** Longest request line the daemon reads; anything longer is refused. */
export const MAX_REQUEST_BYTES = 1 << 20;

/** Parses and checks a request line (it comes from another process: trust nothing). */
export function parseRequest(line: string): ControlRequest {
  const v: unknown = JSON.parse(line);
  if (typeof v !== 'object' || v === null) throw new Error('a request is a JSON object');
  const r = v as Record<string, unknown>;
  switch (r.op) {
    case 'status':
      return { op: 'status' };
    case 'sync': {
      const paths = r.paths;
      if (
        !Array.isArray(paths) ||
        !paths.every((p): p is string => typeof p === 'string' && p.startsWith('/'))
      )
        throw new Error('sync: paths must be absolute paths in the mount');
      return { op: 'sync', paths };
    }
    case 'unmount':
      return { op: 'unmount', force: r.force === true };
    case 'share': {
      const paths = r.paths;
      if (
        !Array.isArray(paths) ||
        !paths.every((p): p is string => typeof p === 'string' && p.startsWith('/'))
      )
        throw new Error('share: paths must be absolute paths in the mount');
      const expiresSec = r.expiresSec;
      if (
        typeof expiresSec !== 'number' ||
        !Number.isInteger(expiresSec) ||
        expiresSec < 1 ||
        expiresSec > SHARE_EXPIRES_MAX_SEC
      )
        throw new Error(
          `share: expiresSec must be a whole number of seconds from 1 to ${SHARE_EXPIRES_MAX_SEC}`,
        );
      return { op: 'share', paths, expiresSec };
    }
    case 'verify': {
      const paths = r.paths;
      if (
        !Array.isArray(paths) ||
        !paths.every((p): p is string => typeof p === 'string' && p.startsWith('/'))
      )
        throw new Error('verify: paths must be absolute paths in the mount');
      return { op: 'verify', paths };
    }
    default:
      throw new Error(`unknown request ${JSON.stringify(r.op)}`);
  }
}
