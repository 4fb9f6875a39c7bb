// Server-side copies: CopyObject up to the threshold (S3 allows 5 GiB), a multipart copy
// of byte ranges (UploadPartCopy) above it. Used by rename.
import type { CompletedPart, ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import { completeMultipart } from './multipart.js';
import { partSizeFor, planParts } from './part-plan.js';

/** S3's CopyObject limit */
export const DEFAULT_COPY_THRESHOLD_BYTES = 5 * 1024 ** 3;

export interface CopyOptions {
  store: ObjectStore;
  requests: Semaphore;
  thresholdBytes: number;
  partBytes: number;
  partConcurrency: number;
}

export async function copyObject(
  o: CopyOptions,
  fromKey: string,
  toKey: string,
  size: number,
  metadata?: Record<string, string>,
): Promise<string> {
  if (size <= o.thresholdBytes)
    return (await o.requests.run(() => o.store.copy(fromKey, toKey, metadata))).etag;
  // a multipart copy does not carry the source's metadata over by itself
  const md = metadata ?? (await o.store.head(fromKey)).metadata;
  const uploadId = await o.requests.run(() => o.store.createMultipart(toKey, md));
  try {
    const parts = planParts(size, partSizeFor(size, o.partBytes));
    const done: CompletedPart[] = [];
    for (let i = 0; i < parts.length; i += o.partConcurrency) {
      const batch = parts.slice(i, i + o.partConcurrency);
      done.push(
        ...(await Promise.all(
          batch.map((p) =>
            o.requests.run(() =>
              o.store.uploadPartCopy(fromKey, toKey, uploadId, p.partNumber, p.start, p.end),
            ),
          ),
        )),
      );
    }
    return await completeMultipart(o, toKey, uploadId, done);
  } catch (err) {
    await o.store.abortMultipart(toKey, uploadId).catch(() => undefined); // the copy error is what matters
    throw err;
  }
}
