// Uploader: sends a staged file to S3 — one PutObject up to the part size, a multipart
// upload above it with several parts in flight. Returns the object's ETag and size.
import type { Logger } from '../log/logger.js';
import { StoreError } from '../s3/errors.js';
import type { CompletedPart, ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import type { PartBuffers } from './part-buffers.js';
import { copyObject, DEFAULT_COPY_THRESHOLD_BYTES } from './copier.js';
import { abortLeftovers, runMultipart, type MultipartDeps } from './multipart.js';
import { MAX_OBJECT_BYTES, MAX_PARTS, MIB, partSizeFor, planParts } from './part-plan.js';
import type { StagedFile } from './staging.js';

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
      return { etag: eager, size, generation };
    }
    const partBytes = partSizeFor(size, this.o.partBytes);
    let etag: string;
    if (size <= partBytes) {
      etag = await this.o.parts.run(size, async (buf) => {
        const body = await file.readFully(buf, 0);
        return (
          await this.o.requests.run(() =>
            this.o.store.put({ key: file.key, body, contentLength: size, metadata: file.record.metadata }),
          )
        ).etag;
      });
      this.counters.puts++;
    } else {
      etag = await this.multipart(file, size, partBytes);
    }
    this.counters.bytes += size;
    return { etag, size, generation };
  }

  /** Completes an upload whose first parts went out while the file was written. */
  private async finishEager(file: StagedFile, size: number): Promise<string | undefined> {
    const eager = file.eager;
    // not started (the file is still small, e.g. an early close of a dup'ed fd):
    // keep it, so that the parts of what is written next still go out early
    if (!eager?.active) return undefined;
    file.eager = undefined; // used once
    const done = await eager.finish(async (uploadId, firstPart, start) => {
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
      );
    });
    if (!done) return undefined;
    this.counters.multipart++;
    let etag = done.etag;
    if (done.metadataChanged) {
      // chmod/chown/utimens while the parts were going out: metadata is fixed at create
      etag = await copyObject(
        {
          store: this.o.store,
          requests: this.o.requests,
          thresholdBytes: this.o.copyThresholdBytes ?? DEFAULT_COPY_THRESHOLD_BYTES,
          partBytes: this.o.partBytes,
          partConcurrency: this.o.partConcurrency,
          logger: this.o.logger,
        },
        file.key,
        file.key,
        size,
        { ...file.record.metadata },
      );
    }
    return etag;
  }

  private async uploadParts(
    file: StagedFile,
    uploadId: string,
    parts: Array<{ partNumber: number; start: number; end: number }>,
  ): Promise<CompletedPart[]> {
    const done: CompletedPart[] = [];
    let next = 0;
    const worker = async () => {
      while (next < parts.length) {
        const p = parts[next++];
        if (!p) break;
        done.push(
          await this.o.parts.run(p.end - p.start, async (buf) => {
            const body = await file.readFully(buf, p.start);
            return this.o.requests.run(() =>
              this.o.store.uploadPart(file.key, uploadId, p.partNumber, body, body.length),
            );
          }),
        );
        this.counters.parts++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.partConcurrency, parts.length) }, worker));
    return done.sort((a, b) => a.partNumber - b.partNumber);
  }

  private async multipart(file: StagedFile, size: number, partBytes: number): Promise<string> {
    return runMultipart(
      this.mp,
      file.key,
      file.record.metadata,
      (up) => {
        this.counters.multipart++;
        return this.uploadParts(file, up.uploadId, planParts(size, partBytes));
      },
      file,
    );
  }
}
