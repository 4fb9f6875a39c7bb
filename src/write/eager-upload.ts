// EagerUpload: while a file is written front to back, its completed parts are uploaded
// as they fill up, so close() only waits for the tail. Any write behind the uploaded
// region (or a truncate into it) abandons the eager upload; close then uploads the file
// whole. The staged copy stays authoritative throughout. The parts are hashed in order as
// they are read, so the whole file's SHA-256 is known at the end (checksum.ts).
import type { Logger } from '../log/logger.js';
import type { CompletedPart, ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import type { PartBuffers } from './part-buffers.js';
import { OrderedHash, uploadPartChecked, withoutChecksum } from './checksum.js';
import { MultipartUpload } from './multipart.js';
import { MAX_PARTS } from './part-plan.js';
import type { EarlyUpload, EarlyUploadDone, PieceHash, UploadSource } from './types.js';

export interface EagerDeps {
  store: ObjectStore;
  requests: Semaphore;
  /** the uploader's: parts in memory at once, over all files */
  parts: PartBuffers;
  logger: Logger;
}

export class EagerUpload implements EarlyUpload {
  /** CreateMultipartUpload, recorded in the staging record before any part is sent */
  private upload?: Promise<MultipartUpload>;
  private readonly parts: Array<Promise<CompletedPart>> = [];
  /** bytes [0, coveredBytes) are in started parts and must not change */
  private coveredBytes = 0;
  private abandoned = false;
  /** the metadata sent with CreateMultipartUpload (a checksum of an older content dropped) */
  private sentMetadata: Record<string, string> = {};
  /** the SHA-256 of the parts, by part number */
  private readonly hash = new OrderedHash(1);

  constructor(
    private readonly file: UploadSource,
    private readonly partBytes: number,
    private readonly d: EagerDeps,
  ) {}

  get active(): boolean {
    return !this.abandoned && this.upload !== undefined;
  }

  get covered(): number {
    return this.coveredBytes;
  }

  /** After a write at `offset`: start the parts that are now complete. */
  onWrite(offset: number): void {
    if (this.abandoned) return;
    if (offset < this.coveredBytes) return this.abandon('write into an uploaded part');
    // the last part is uploaded at close; keep one part back so it is never empty
    while (this.file.size - this.coveredBytes > this.partBytes && this.parts.length < MAX_PARTS - 1)
      this.startPart();
  }

  /** The size at which onWrite would start another part (Infinity: never). */
  nextPartAt(): number {
    if (this.abandoned || this.parts.length >= MAX_PARTS - 1) return Infinity;
    return this.coveredBytes + this.partBytes + 1;
  }

  onTruncate(size: number): void {
    if (!this.abandoned && size < this.coveredBytes) this.abandon('truncated into an uploaded part');
  }

  private startPart(): void {
    const key = this.file.key;
    if (!this.upload) {
      this.sentMetadata = withoutChecksum(this.file.record.metadata);
      this.upload = MultipartUpload.create(this.d, key, { ...this.sentMetadata }, this.file);
      this.upload.catch(() => undefined); // seen by the parts and finish()
    }
    const start = this.coveredBytes;
    const end = start + this.partBytes;
    const partNumber = this.parts.length + 1;
    this.coveredBytes = end;
    const upload = this.upload;
    const hash = this.hash;
    const p = this.d.parts.run(end - start, async (buf) => {
      let hashed: Promise<void> | undefined;
      try {
        const id = (await upload).uploadId;
        const body = await this.file.readFully(buf, start);
        hashed = hash.feed(partNumber, body);
        return await this.d.requests.run(() => uploadPartChecked(this.d.store, key, id, partNumber, body));
      } finally {
        // the buffer is reused once this returns: hashed first, or never
        if (hashed) await hashed;
        else hash.skip(partNumber);
      }
    });
    p.catch((err: unknown) => this.abandon(`part ${partNumber} failed: ${String(err)}`));
    this.parts.push(p);
  }

  /** The file was unlinked or is gone: give the parts up. */
  cancel(): void {
    this.abandon('cancelled');
  }

  private abandon(why: string): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.hash.discard();
    this.d.logger.debug('eager upload abandoned; the file is uploaded whole at close', {
      key: this.file.key,
      why,
    });
    const upload = this.upload;
    if (!upload) return;
    // once no part is in flight; abort() is once per upload and never throws
    void Promise.allSettled(this.parts)
      .then(() => upload)
      .then((up) => up.abort())
      .catch(() => undefined); // never created: that failure went to the parts
  }

  /**
   * Completes the upload with the tail [covered, size). Returns the ETag, or undefined
   * if the eager upload cannot be used (the caller then uploads the file whole).
   */
  async finish(
    uploadTail: (
      uploadId: string,
      partNumber: number,
      start: number,
      hash: PieceHash,
    ) => Promise<CompletedPart[]>,
  ): Promise<EarlyUploadDone | undefined> {
    if (this.abandoned || !this.upload) return undefined;
    let done: CompletedPart[];
    let up: MultipartUpload;
    try {
      up = await this.upload;
      done = await Promise.all(this.parts);
    } catch {
      this.abandon('a part failed');
      return undefined;
    }
    if (this.abandoned) return undefined;
    this.abandoned = true; // one use only: from here this call ends the upload
    try {
      done.push(...(await uploadTail(up.uploadId, done.length + 1, this.coveredBytes, this.hash)));
    } catch (err) {
      await up.abort(); // logs its own failure: the tail's error is the one to report
      throw err;
    }
    const etag = await up.complete(done); // aborts it if the completion fails
    const sha256 = await this.hash.digest(done.length + 1);
    return {
      etag,
      metadata: { ...this.sentMetadata },
      metadataChanged:
        JSON.stringify(withoutChecksum(this.file.record.metadata)) !== JSON.stringify(this.sentMetadata),
      ...(sha256 !== undefined ? { sha256 } : {}),
    };
  }
}
