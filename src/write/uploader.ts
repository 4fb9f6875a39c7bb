// Uploader: sends a staged file to S3 — one PutObject up to the part size, a multipart
// upload above it with several parts in flight; every body with its MD5, every ETag
// checked, the whole file's SHA-256 in the metadata (checksum.ts). Returns the object's
// ETag, size and metadata.
import type { Logger } from '../log/logger.js';
import { StoreError } from '../s3/errors.js';
import type { CompletedPart, ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import type { PartBuffers } from './part-buffers.js';
import { hashStagedFile, putChecked, sha256Of, uploadPartChecked, withChecksum } from './checksum.js';
import { copyObject, DEFAULT_COPY_THRESHOLD_BYTES } from './copier.js';
import { abortLeftovers, runMultipart, type MultipartDeps } from './multipart.js';
import { MAX_OBJECT_BYTES, MAX_PARTS, MIB, partSizeFor, planParts } from './part-plan.js';
import type { StagedFile } from './staging.js';
import type { PieceHash } from './types.js';

export interface UploaderOptions {
  store: ObjectStore;
  requests: Semaphore;
  /** memory budget: parts (or single-put bodies) held in memory at once, over all files */
  parts: PartBuffers;
  partBytes: number;
  /** parts of one file in flight at once */
  partConcurrency: number;
  /** objects larger than this are copied part by part (--copy-threshold); default S3's CopyObject limit */
  copyThresholdBytes?: number;
  logger: Logger;
}

export interface UploadResult {
  etag: string;
  size: number;
  generation: number;
  /** the object's user metadata now (with its checksum when one was stored) */
  metadata: Record<string, string>;
}

export class Uploader {
  readonly counters = { puts: 0, multipart: 0, parts: 0, bytes: 0 };
  private readonly mp: MultipartDeps;

  constructor(private readonly o: UploaderOptions) {
    this.mp = { store: o.store, requests: o.requests, logger: o.logger };
  }

  async upload(file: StagedFile): Promise<UploadResult> {
    // uploads a crashed run (or a failed abort) left behind keep their parts' storage
    await abortLeftovers(this.mp, file);
    const generation = file.generation;
    const size = file.size;
    if (size > MAX_OBJECT_BYTES)
      throw new StoreError('EntityTooLarge', 'larger than 5 TiB', { key: file.key });
    // no fsync here: with close() waiting for S3 the data is either uploaded or the
    // caller is told; the queue makes a failed file durable before it waits to retry
    const eager = file.eager ? await this.finishEager(file, size) : undefined;
    if (eager !== undefined) {
      this.counters.bytes += size;
      return { ...eager, size, generation };
    }
    const partBytes = partSizeFor(size, this.o.partBytes);
    let done: { etag: string; metadata: Record<string, string> };
    if (size <= partBytes) {
      done = await this.o.parts.run(size, async (buf) => {
        const body = await file.readFully(buf, 0);
        // the object's SHA-256 is also the request's payload hash: computed once, off-thread
        const sha256Hex = await sha256Of(body);
        const metadata = withChecksum(file.record.metadata, sha256Hex);
        const r = await this.o.requests.run(() =>
          putChecked(this.o.store, { key: file.key, body, contentLength: size, metadata, sha256Hex }),
        );
        return { etag: r.etag, metadata };
      });
      this.counters.puts++;
    } else {
      // the metadata goes with CreateMultipartUpload, before any part: hash the file first
      const metadata = withChecksum(
        file.record.metadata,
        await hashStagedFile(file, size, this.o.parts, partBytes),
      );
      done = { etag: await this.multipart(file, size, partBytes, metadata), metadata };
    }
    this.counters.bytes += size;
    return { ...done, size, generation };
  }

  /** Completes an upload whose first parts went out while the file was written. */
  private async finishEager(
    file: StagedFile,
    size: number,
  ): Promise<{ etag: string; metadata: Record<string, string> } | undefined> {
    const eager = file.eager;
    // not started (the file is still small, e.g. an early close of a dup'ed fd):
    // keep it, so that the parts of what is written next still go out early
    if (!eager?.active) return undefined;
    file.eager = undefined; // used once
    const done = await eager.finish(async (uploadId, firstPart, start, hash) => {
      // the tail: same part size, grown if the 10,000-part limit needs it
      const left = MAX_PARTS - (firstPart - 1);
      const partBytes = Math.max(this.o.partBytes, Math.ceil(Math.ceil((size - start) / left) / MIB) * MIB);
      return this.uploadParts(
        file,
        uploadId,
        planParts(size - start, partBytes).map((p) => ({
          partNumber: p.partNumber + firstPart - 1,
          start: p.start + start,
          end: p.end + start,
        })),
        hash,
      );
    });
    if (!done) return undefined;
    this.counters.multipart++;
    const thresholdBytes = this.o.copyThresholdBytes ?? DEFAULT_COPY_THRESHOLD_BYTES;
    // The object was created before its content (so its SHA-256) was known. A copy onto
    // itself stores it: one CopyObject (Ceph RGW copies only the head of a multipart
    // object); a copy part by part (over the copy threshold) only if the metadata
    // changed too (chmod/chown/utimens while the parts were going out).
    const storeChecksum = done.sha256 !== undefined && size <= thresholdBytes;
    if (!done.metadataChanged && !storeChecksum) return { etag: done.etag, metadata: done.metadata };
    const metadata = withChecksum(file.record.metadata, done.sha256);
    const copy = {
      store: this.o.store,
      requests: this.o.requests,
      thresholdBytes,
      partBytes: this.o.partBytes,
      partConcurrency: this.o.partConcurrency,
      logger: this.o.logger,
    };
    try {
      return { etag: await copyObject(copy, file.key, file.key, size, metadata), metadata };
    } catch (err) {
      if (done.metadataChanged) throw err;
      // the data is in S3: only its checksum is missing (verify says so), not worth an upload again
      this.o.logger.warn('cannot store the checksum of an uploaded object', {
        key: file.key,
        error: String(err),
      });
      return { etag: done.etag, metadata: done.metadata };
    }
  }

  private async uploadParts(
    file: StagedFile,
    uploadId: string,
    parts: Array<{ partNumber: number; start: number; end: number }>,
    hash?: PieceHash,
  ): Promise<CompletedPart[]> {
    const done: CompletedPart[] = [];
    let next = 0;
    const worker = async () => {
      while (next < parts.length) {
        const p = parts[next++];
        if (!p) break;
        done.push(
          await this.o.parts.run(p.end - p.start, async (buf) => {
            let hashed: Promise<void> | undefined;
            try {
              const body = await file.readFully(buf, p.start);
              hashed = hash?.feed(p.partNumber, body);
              return await this.o.requests.run(() =>
                uploadPartChecked(this.o.store, file.key, uploadId, p.partNumber, body),
              );
            } finally {
              // the buffer is reused once this returns: hashed first, or never
              if (hashed) await hashed;
              else hash?.skip(p.partNumber);
            }
          }),
        );
        this.counters.parts++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.partConcurrency, parts.length) }, worker));
    return done.sort((a, b) => a.partNumber - b.partNumber);
  }

  private async multipart(
    file: StagedFile,
    size: number,
    partBytes: number,
    metadata: Record<string, string>,
  ): Promise<string> {
    return runMultipart(
      this.mp,
      file.key,
      metadata,
      (up) => {
        this.counters.multipart++;
        return this.uploadParts(file, up.uploadId, planParts(size, partBytes));
      },
      file,
    );
  }
}
