// The control protocol between the s3mount command and a running daemon: one request per
// connection, a JSON line each way; a long request may send progress lines before its answer.
//
// Wire format (each line one JSON object, '\n'-terminated):
//   client → daemon   {"op":"status"}  |  {"op":"sync","paths":["/a"]}  |  {"op":"unmount","force":false}
//   daemon → client   {"progress":{...}}*  then  {"ok":true,"result":{...}}  or  {"ok":false,"error":"..."}
// A new request (e.g. `share` for presigned URLs) is one more member of ControlRequest and
// of ControlResults, and one more handler in the daemon's table: nothing else changes.

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

export type ControlRequest =
  | { op: 'status' }
  /** uploads everything written under these mount paths ("/" = all) now, waits, reports failures */
  | { op: 'sync'; paths: string[] }
  /** unmounts, waits for uploads (unless force) with progress lines, then the daemon exits */
  | { op: 'unmount'; force: boolean };

export interface ControlResults {
  status: MountStatus;
  sync: SyncResult;
  unmount: UnmountResult;
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
    default:
      throw new Error(`unknown request ${JSON.stringify(r.op)}`);
  }
}
