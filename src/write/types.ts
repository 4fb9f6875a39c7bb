// What the pieces of src/write share without importing each other: the staging record's
// shape, the FUSE layer's write table (WritePort), and the views uploads and eager
// uploads take of a staged file. Interfaces only, so that no import cycle can form.
import type { CompletedPart } from '../s3/store.js';

export interface StagedRecord {
  version: 1;
  id: string;
  /** identifies the mount: endpoint, bucket and prefix */
  mountId: string;
  key: string;
  metadata: Record<string, string>;
  createdMs: number;
  /**
   * Multipart uploads of this file that were started and not yet completed or aborted
   * (absent in records of older versions: none). Whatever a crashed daemon left here is
   * aborted by the next mount.
   */
  uploads?: MultipartRecord[];
  /** unlinked while open: kept for its handles only, never uploaded (a restart removes it) */
  unlinked?: true;
}

export interface MultipartRecord {
  key: string;
  /** unset while CreateMultipartUpload is under way (or if its answer was lost) */
  uploadId?: string;
  /** when CreateMultipartUpload was sent (ms since the epoch, this machine's clock) */
  startedMs: number;
}

/**
 * Where a multipart upload is written down while it exists (a staged file's record), so
 * that a daemon killed meanwhile leaves nothing the next mount cannot find and abort.
 */
export interface MultipartLog {
  /** before CreateMultipartUpload is sent: an upload of `key` may exist */
  multipartStarting(key: string): Promise<MultipartRecord>;
  /** its upload ID, recorded before any part is sent */
  multipartStarted(entry: MultipartRecord, uploadId: string): Promise<void>;
  /** completed or aborted (or known never to have been created): no longer recorded */
  multipartEnded(entry: MultipartRecord): Promise<void>;
  /** given up by this run but still recorded (its abort failed): a leftover from now on */
  multipartLeft(entry: MultipartRecord): void;
  /** recorded uploads nobody works on: left by a crashed run, or whose abort failed */
  leftoverUploads(): MultipartRecord[];
  readonly record: StagedRecord;
}

/** What an upload reads from a staged file: its key, size, metadata and bytes. */
export interface UploadSource extends MultipartLog {
  readonly key: string;
  readonly size: number;
  /** fills `dest` from `start`; fails if the file is shorter */
  readFully(dest: Buffer, start: number): Promise<Buffer>;
}

/**
 * What a staged file tells the parts uploaded while it is written (EagerUpload): every
 * change of its content, and when the next part would be complete.
 */
export interface WriteListener {
  /** after a write at `offset` (the lowest offset of the writes taken in) */
  onWrite(offset: number): void;
  onTruncate(size: number): void;
  /** the size at which onWrite would start another part (Infinity: never) */
  nextPartAt(): number;
  /** the file was unlinked or is gone */
  cancel(): void;
}

/** Parts uploaded while a file is written (EagerUpload), as the staged file holds them. */
export interface EarlyUpload extends WriteListener {
  /** its multipart upload was started and not abandoned */
  readonly active: boolean;
  /**
   * Completes the upload with the tail [covered, size) that `uploadTail` sends. The ETag,
   * or undefined if it cannot be used (the caller then uploads the file whole).
   */
  finish(
    uploadTail: (
      uploadId: string,
      partNumber: number,
      start: number,
      hash: PieceHash,
    ) => Promise<CompletedPart[]>,
  ): Promise<EarlyUploadDone | undefined>;
}

/** A completed early upload. */
export interface EarlyUploadDone {
  etag: string;
  /** the metadata it was created with (without a checksum: the content was not known yet) */
  metadata: Record<string, string>;
  /** the staged metadata changed since (chmod/chown/utimens while it went out) */
  metadataChanged: boolean;
  /** the SHA-256 of all its parts, when each was hashed in order */
  sha256?: string;
}

/** A hash over the parts of an upload, fed by part number as their bytes are read (checksum.ts). */
export interface PieceHash {
  /** hashes part `seq` once the parts before it are in; resolves after */
  feed(seq: number, bytes: Uint8Array): Promise<void>;
  /** part `seq` will not be fed (its read failed): the hash is unknown */
  skip(seq: number): void;
}

/** The FUSE layer's native table of staged files and the handles writing them. */
export interface WritePort {
  /** registers a staged file (its descriptor is dup'ed) of `size` bytes: its id, or -1 */
  open(fd: number, size: number): number;
  /** detaches its handles, waits for writes under way, forgets it */
  close(id: number): void;
  /** FUSE threads do the writes of handle `fh` into file `id`; false if not possible */
  attach(fh: number, id: number): boolean;
  /** once this returns FUSE threads start no more writes for `fh` */
  detach(fh: number): void;
  /**
   * Writes done since the last take, the size now, the lowest offset they wrote (-1: none)
   * and when the last write was (ms since the epoch, 0: never).
   */
  take(id: number): { writes: number; size: number; lowest: number; lastWriteMs: number };
  /** JS changed the size itself: exactly (truncate) or as a write that may extend it */
  setSize(id: number, size: number, exact: boolean): void;
  /** `fn` runs on the JS thread after a write ended past the file's trigger */
  arm(id: number, trigger: number): void;
  onTrigger(fn: () => void): void;
}
