// Server-side copies: CopyObject up to the threshold (S3 allows 5 GiB), a multipart copy
// of byte ranges (UploadPartCopy) above it, through the one multipart lifecycle
// (multipart.ts). Used by rename, chmod/chown/utimens and the uploader.
import { nullLogger, type Logger } from '../log/logger.js';
import type { CompletedPart, ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import { runMultipart } from './multipart.js';
import { partSizeFor, planParts } from './part-plan.js';

/** S3's CopyObject limit */
export const DEFAULT_COPY_THRESHOLD_BYTES = 5 * 1024 ** 3;

export interface CopyOptions {
  store: ObjectStore;
  requests: Semaphore;
  thresholdBytes: number;
  partBytes: number;
  partConcurrency: number;
  /** where a failed abort of a multipart copy is reported (default: nowhere) */
  logger?: Logger;
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
  const d = { store: o.store, requests: o.requests, logger: o.logger ?? nullLogger() };
  return runMultipart(d, toKey, md, async (up) => {
    const parts = planParts(size, partSizeFor(size, o.partBytes));
    const done: CompletedPart[] = [];
    for (let i = 0; i < parts.length; i += o.partConcurrency) {
      const batch = parts.slice(i, i + o.partConcurrency);
      done.push(
        ...(await Promise.all(
          batch.map((p) =>
            o.requests.run(() =>
              o.store.uploadPartCopy(fromKey, toKey, up.uploadId, p.partNumber, p.start, p.end),
            ),
          ),
        )),
      );
    }
    return done;
  });
}
