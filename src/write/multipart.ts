// The one multipart lifecycle (MultipartUpload: create, parts, complete, or abort once),
// recorded in a staged file's record: before CreateMultipartUpload is sent and again once
// its upload ID is known (before any part), dropped once completed or aborted. So no upload
// a daemon starts is lost when it dies: the next mount aborts what the record still lists
// (abortLeftovers), and the file is uploaded again from its staged data.
import type { Logger } from '../log/logger.js';
import { isPermanentFailure, isStoreError } from '../s3/errors.js';
import type { CompletedPart, ObjectStore, UploadInfo } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import { checkCompleteEtag } from './checksum.js';
import type { MultipartLog, MultipartRecord } from './types.js';

export interface MultipartDeps {
  store: ObjectStore;
  requests: Semaphore;
  logger: Logger;
}

/**
 * An upload recorded without its ID (CreateMultipartUpload sent, answer lost) is looked
 * for among the key's uploads in progress that the server says were created within this
 * much of the request: S3 refuses requests whose clock is off by more than 15 minutes.
 */
export const UNRECORDED_UPLOAD_WINDOW_MS = 15 * 60_000;

/**
 * One multipart upload: the one lifecycle of whole-file uploads (Uploader), parts sent
 * while a file is written (EagerUpload) and multipart copies (copier). create (recorded
 * in the staged file's record before it is sent and once it answered, where there is a
 * record) → parts (the caller's) → complete (Ceph RGW's empty ETag: a HEAD) → or, on any
 * failure, one abort, after which the record forgets it.
 */
export class MultipartUpload {
  private ended = false;

  private constructor(
    private readonly d: MultipartDeps,
    readonly key: string,
    readonly uploadId: string,
    private readonly log?: { file: MultipartLog; entry: MultipartRecord },
  ) {}

  /** CreateMultipartUpload; with `log`, recorded before it is sent and once it answered. */
  static async create(
    d: MultipartDeps,
    key: string,
    metadata: Record<string, string> | undefined,
    log?: MultipartLog,
  ): Promise<MultipartUpload> {
    if (!log)
      return new MultipartUpload(d, key, await d.requests.run(() => d.store.createMultipart(key, metadata)));
    const entry = await log.multipartStarting(key);
    let uploadId: string;
    try {
      uploadId = await d.requests.run(() => d.store.createMultipart(key, metadata));
    } catch (err) {
      // timed out or cut off: the server may have created it, so the record keeps it for
      // the next leftover sweep; any other answer means there is no upload
      if (isStoreError(err, 'Timeout') || isStoreError(err, 'Unreachable')) log.multipartLeft(entry);
      else await log.multipartEnded(entry).catch(() => undefined); // the create's error is the one to report
      throw err;
    }
    const up = new MultipartUpload(d, key, uploadId, { file: log, entry });
    try {
      await log.multipartStarted(entry, uploadId);
    } catch (err) {
      // not recorded: no part may go out under an ID a crash would lose
      await up.abort();
      throw err;
    }
    return up;
  }

  /**
   * CompleteMultipartUpload; returns the new object's ETag (Ceph RGW answers with an empty
   * one: a HEAD afterwards has it). An ETag in S3's multipart form must be the one the
   * parts' ETags give (checksum.ts). If it fails, the upload is aborted and the error thrown.
   */
  async complete(parts: CompletedPart[]): Promise<string> {
    if (this.ended) throw new Error(`multipart upload of ${this.key} already ended`);
    let etag: string;
    try {
      etag = (await this.d.requests.run(() => this.d.store.completeMultipart(this.key, this.uploadId, parts)))
        .etag;
      checkCompleteEtag(this.key, etag, parts);
      if (etag === '') etag = (await this.d.requests.run(() => this.d.store.head(this.key))).etag;
    } catch (err) {
      await this.abort(); // logs its own failure: the completion's error is the one to report
      throw err;
    }
    this.ended = true;
    if (this.log) await forget(this.d, this.log.file, this.log.entry);
    return etag;
  }

  /**
   * Aborts it, once: later calls, and calls after complete(), do nothing. A failed abort
   * is logged; the upload stays recorded unless the server can never abort it (s3rver
   * answers 405), and the next upload of the file or the next mount tries again. Never throws.
   */
  async abort(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const gone = await abortOne(this.d, this.key, this.uploadId, this.log?.file, this.log?.entry);
    if (gone && this.log) await forget(this.d, this.log.file, this.log.entry);
  }
}

/**
 * create → `sendParts` → complete, for uploads whose parts are all sent at once: on any
 * failure the upload is aborted once and the error thrown.
 */
export async function runMultipart(
  d: MultipartDeps,
  key: string,
  metadata: Record<string, string> | undefined,
  sendParts: (up: MultipartUpload) => Promise<CompletedPart[]>,
  log?: MultipartLog,
): Promise<string> {
  const up = await MultipartUpload.create(d, key, metadata, log);
  let parts: CompletedPart[];
  try {
    parts = await sendParts(up);
  } catch (err) {
    await up.abort(); // logs its own failure: the parts' error is the one to report
    throw err;
  }
  return up.complete(parts);
}

/**
 * Aborts the uploads `file`'s record lists that nobody works on: left by a crashed
 * daemon, or whose abort failed earlier. The file's data is uploaded again afterwards,
 * whatever the outcome here. Never throws.
 */
export async function abortLeftovers(d: MultipartDeps, file: MultipartLog): Promise<void> {
  for (const entry of file.leftoverUploads()) {
    if (entry.uploadId !== undefined) {
      d.logger.info('aborting a multipart upload left unfinished', {
        key: entry.key,
        uploadId: entry.uploadId,
      });
      if (await abortOne(d, entry.key, entry.uploadId, file, entry)) await forget(d, file, entry);
      continue;
    }
    // its ID was never recorded: find it among the key's uploads in progress
    let found: UploadInfo[];
    try {
      found = await d.requests.run(() => d.store.listMultipart(entry.key));
    } catch (err) {
      d.logger.warn('cannot list multipart uploads to find one left unfinished', {
        key: entry.key,
        error: String(err),
      });
      if (isPermanentFailure(err)) await forget(d, file, entry); // this server cannot list them: nothing more to try
      continue;
    }
    // uploads this file knows by ID (a live eager upload among them) are not that one
    const known = new Set((file.record.uploads ?? []).map((u) => u.uploadId));
    let all = true;
    for (const u of found) {
      if (
        u.key !== entry.key ||
        known.has(u.uploadId) ||
        Math.abs(u.initiatedMs - entry.startedMs) > UNRECORDED_UPLOAD_WINDOW_MS
      )
        continue;
      d.logger.info('aborting a multipart upload left unfinished (found by listing)', {
        key: u.key,
        uploadId: u.uploadId,
      });
      all = (await abortOne(d, entry.key, u.uploadId, file, entry)) && all;
    }
    if (all) await forget(d, file, entry);
  }
}

/** True if the upload is gone (aborted now, or already completed or aborted). */
async function abortOne(
  d: MultipartDeps,
  key: string,
  uploadId: string,
  file?: MultipartLog,
  entry?: MultipartRecord,
): Promise<boolean> {
  try {
    await d.requests.run(() => d.store.abortMultipart(key, uploadId));
    return true;
  } catch (err) {
    if (isStoreError(err, 'NotFound')) return true; // NoSuchUpload: completed or aborted already
    if (isPermanentFailure(err)) {
      // this server cannot abort it (s3rver: 405): trying again would fail the same way
      d.logger.warn(
        'cannot abort a multipart upload; its parts stay on the server until a lifecycle rule removes them',
        { key, uploadId, error: String(err) },
      );
      return true;
    }
    d.logger.warn(
      file ? 'could not abort a multipart upload; trying again later' : 'could not abort a multipart upload',
      { key, uploadId, error: String(err) },
    );
    if (file && entry) file.multipartLeft(entry);
    return false;
  }
}

async function forget(d: MultipartDeps, file: MultipartLog, entry: MultipartRecord): Promise<void> {
  try {
    await file.multipartEnded(entry);
  } catch (err) {
    // the record on disk still lists it: the next sweep finds it gone (NoSuchUpload)
    d.logger.warn('cannot update the staging record', { key: entry.key, error: String(err) });
  }
}
