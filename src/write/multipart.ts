// Multipart uploads of staged files, recorded in the file's staging record: before
// CreateMultipartUpload is sent and again once its upload ID is known (before any part),
// dropped once completed or aborted. So no upload a daemon starts is lost when it dies:
// the next mount aborts what the record still lists (abortLeftovers), and the file is
// uploaded again from its staged data.
import type { Logger } from '../log/logger.js';
import { isPermanentFailure, isStoreError } from '../s3/errors.js';
import type { CompletedPart, ObjectStore, UploadInfo } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import type { MultipartRecord, StagedFile } from './staging.js';

export interface MultipartDeps {
  store: ObjectStore;
  requests: Semaphore;
  logger: Logger;
}

export interface StartedUpload {
  uploadId: string;
  entry: MultipartRecord;
}

/**
 * An upload recorded without its ID (CreateMultipartUpload sent, answer lost) is looked
 * for among the key's uploads in progress that the server says were created within this
 * much of the request: S3 refuses requests whose clock is off by more than 15 minutes.
 */
export const UNRECORDED_UPLOAD_WINDOW_MS = 15 * 60_000;

/**
 * CompleteMultipartUpload; returns the new object's ETag. Ceph RGW answers with an empty
 * ETag: a HEAD afterwards has the real one. Every completion (uploads, copies) goes here.
 */
export async function completeMultipart(
  d: Pick<MultipartDeps, 'store' | 'requests'>,
  key: string,
  uploadId: string,
  parts: CompletedPart[],
): Promise<string> {
  const { etag } = await d.requests.run(() => d.store.completeMultipart(key, uploadId, parts));
  return etag !== '' ? etag : (await d.requests.run(() => d.store.head(key))).etag;
}

/** CreateMultipartUpload for `file`, recorded before it is sent and once it answered. */
export async function startMultipart(
  d: MultipartDeps,
  file: StagedFile,
  key: string,
  metadata: Record<string, string>,
): Promise<StartedUpload> {
  const entry = await file.multipartStarting(key);
  let uploadId: string;
  try {
    uploadId = await d.requests.run(() => d.store.createMultipart(key, metadata));
  } catch (err) {
    // timed out or cut off: the server may have created it, so the record keeps it for
    // the next leftover sweep; any other answer means there is no upload
    if (isStoreError(err, 'Timeout') || isStoreError(err, 'Unreachable')) file.multipartLeft(entry);
    else await file.multipartEnded(entry).catch(() => undefined); // the create's error is the one to report
    throw err;
  }
  const started = { uploadId, entry };
  try {
    await file.multipartStarted(entry, uploadId);
  } catch (err) {
    // not recorded: no part may go out under an ID a crash would lose
    await endMultipart(d, file, started, 'abort');
    throw err;
  }
  return started;
}

/**
 * The upload is over: completed (just forget it), or to be aborted. A failed abort is
 * logged; the upload stays recorded unless the server can never abort it (s3rver
 * answers 405), and the next upload of the file or the next mount tries again.
 * Never throws.
 */
export async function endMultipart(
  d: MultipartDeps,
  file: StagedFile,
  up: StartedUpload,
  how: 'completed' | 'abort',
): Promise<void> {
  if (how === 'abort' && !(await abortOne(d, file, up.entry, up.uploadId))) return;
  await forget(d, file, up.entry);
}

/**
 * Aborts the uploads `file`'s record lists that nobody works on: left by a crashed
 * daemon, or whose abort failed earlier. The file's data is uploaded again afterwards,
 * whatever the outcome here. Never throws.
 */
export async function abortLeftovers(d: MultipartDeps, file: StagedFile): Promise<void> {
  for (const entry of file.leftoverUploads()) {
    if (entry.uploadId !== undefined) {
      d.logger.info('aborting a multipart upload left unfinished', {
        key: entry.key,
        uploadId: entry.uploadId,
      });
      if (await abortOne(d, file, entry, entry.uploadId)) await forget(d, file, entry);
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
      all = (await abortOne(d, file, entry, u.uploadId)) && all;
    }
    if (all) await forget(d, file, entry);
  }
}

/** True if the upload is gone (aborted now, or already completed or aborted). */
async function abortOne(
  d: MultipartDeps,
  file: StagedFile,
  entry: MultipartRecord,
  uploadId: string,
): Promise<boolean> {
  try {
    await d.requests.run(() => d.store.abortMultipart(entry.key, uploadId));
    return true;
  } catch (err) {
    if (isStoreError(err, 'NotFound')) return true; // NoSuchUpload: completed or aborted already
    if (isPermanentFailure(err)) {
      // this server cannot abort it (s3rver: 405): trying again would fail the same way
      d.logger.warn(
        'cannot abort a multipart upload; its parts stay on the server until a lifecycle rule removes them',
        { key: entry.key, uploadId, error: String(err) },
      );
      return true;
    }
    d.logger.warn('could not abort a multipart upload; trying again later', {
      key: entry.key,
      uploadId,
      error: String(err),
    });
    file.multipartLeft(entry);
    return false;
  }
}

async function forget(d: MultipartDeps, file: StagedFile, entry: MultipartRecord): Promise<void> {
  try {
    await file.multipartEnded(entry);
  } catch (err) {
    // the record on disk still lists it: the next sweep finds it gone (NoSuchUpload)
    d.logger.warn('cannot update the staging record', { key: entry.key, error: String(err) });
  }
}
