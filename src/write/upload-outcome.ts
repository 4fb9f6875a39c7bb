// What became of a staged file handed to the upload queue (UploadOutcome), as flush,
// fsync, write-back and unmount see it; the types the queue and its callers share.
import type { UploadResult } from './uploader.js';

/** What became of a file handed to the queue. */
export type UploadOutcome =
  /** S3 has the file's current content: this object */
  | ({ kind: 'uploaded' } & UploadResult)
  /** there was nothing to upload (S3 had it already, or another caller's upload did it) */
  | { kind: 'clean' }
  /** the upload failed; it is retried in the background and `retry` settles when that ends */
  | { kind: 'failed'; error: unknown; retry: Promise<SettledOutcome> }
  /** failed in a way retrying cannot fix: stays staged, not retried, not drained */
  | { kind: 'parked'; error: unknown; reason: string }
  /** no longer the queue's: the file was forgotten (unlinked) or the queue stopped */
  | { kind: 'superseded'; why: 'forgotten' | 'stopped' };

/** How background work on a file ends (it never ends in a plain failure: it retries). */
export type SettledOutcome = Exclude<UploadOutcome, { kind: 'failed' }>;

/** One attempt's end: an upload overtaken by a change to the file is neither success nor failure. */
export type Attempt = SettledOutcome | { kind: 'overtaken' } | { kind: 'failed'; error: unknown };

/** A staged file whose upload failed in a way retrying cannot fix. */
export interface ParkedUpload {
  path: string;
  key: string;
  /** its data on local disk */
  stagedPath: string;
  reason: string;
  sinceMs: number;
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function exhaustive(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
