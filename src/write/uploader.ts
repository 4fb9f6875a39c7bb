// Uploader: sends a staged file to S3 — one PutObject up to the part size, a multipart
// upload above it with several parts in flight. Returns the object's ETag and size.
import type { Logger } from '../log/logger.js';
import { StoreError } from '../s3/errors.js';
import type { CompletedPart, ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import { MAX_OBJECT_BYTES, partSizeFor, planParts } from './part-plan.js';
import type { StagedFile } from './staging.js';

export interface UploaderOptions {
  store: ObjectStore;
  requests: Semaphore;
  /** memory budget: parts (or single-put bodies) held in memory at once, over all files */
  partSlots: Semaphore;
  partBytes: number;
  /** parts of one file in flight at once */
  partConcurrency: number;
  logger: Logger;
}

export interface UploadResult {
  etag: string;
  size: number;
  generation: number;
}

export class Uploader {
  readonly counters = { puts: 0, multipart: 0, parts: 0, bytes: 0 };

  constructor(private readonly o: UploaderOptions) {}

  async upload(file: StagedFile): Promise<UploadResult> {
    const generation = file.generation;
    const size = file.size;
    if (size > MAX_OBJECT_BYTES) throw new StoreError('EntityTooLarge', 'larger than 5 TiB', { key: file.key });
    await file.sync(); // the staged copy is durable before S3 is asked to take it
    const partBytes = partSizeFor(size, this.o.partBytes);
    let etag: string;
    if (size <= partBytes) {
      etag = await this.o.partSlots.run(async () => {
        const body = await readRange(file, 0, size);
        return (await this.o.requests.run(() => this.o.store.put({ key: file.key, body, contentLength: size, metadata: file.record.metadata }))).etag;
      });
      this.counters.puts++;
    } else {
      etag = await this.multipart(file, size, partBytes);
    }
    this.counters.bytes += size;
    return { etag, size, generation };
  }

  private async multipart(file: StagedFile, size: number, partBytes: number): Promise<string> {
    const key = file.key;
    const uploadId = await this.o.requests.run(() => this.o.store.createMultipart(key, file.record.metadata));
    this.counters.multipart++;
    try {
      const parts = planParts(size, partBytes);
      const done: CompletedPart[] = [];
      let next = 0;
      const worker = async () => {
        while (next < parts.length) {
          const p = parts[next++];
          if (!p) break;
          done.push(
            await this.o.partSlots.run(async () => {
              const body = await readRange(file, p.start, p.end - p.start);
              return this.o.requests.run(() => this.o.store.uploadPart(key, uploadId, p.partNumber, body, body.length));
            }),
          );
          this.counters.parts++;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.o.partConcurrency, parts.length) }, worker));
      done.sort((a, b) => a.partNumber - b.partNumber);
      const { etag } = await this.o.requests.run(() => this.o.store.completeMultipart(key, uploadId, done));
      if (etag !== '') return etag;
      // Ceph RGW answers CompleteMultipartUpload with an empty ETag; HEAD has the real one
      return (await this.o.store.head(key)).etag;
    } catch (err) {
      await this.o.store.abortMultipart(key, uploadId).catch((abortErr: unknown) => {
        // the upload error matters more; a dangling upload is cleaned by bucket lifecycle rules
        this.o.logger.warn('could not abort multipart upload', { key, error: String(abortErr) });
      });
      throw err;
    }
  }
}

async function readRange(file: StagedFile, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  const n = await file.read(buf, start, length);
  if (n !== length) throw new StoreError('Other', `staged file shorter than expected (${n} of ${length})`, { key: file.key });
  return buf;
}
