// Upload integrity: the MD5 each PutObject and UploadPart carries (Content-MD5) and the
// ETag the server answers checked against it, the multipart ETag checked at completion,
// and the whole object's SHA-256 stored in its metadata (CHECKSUM_METADATA) for `verify`.
import { createHash } from 'node:crypto';
import { StoreError } from '../s3/errors.js';
import type { CompletedPart, ObjectStore, PutParams, WriteResult } from '../s3/store.js';
import { hashThreads, type HashStream } from '../util/hash-threads.js';
import type { PartBuffers } from './part-buffers.js';
import type { UploadSource } from './types.js';

/**
 * The user metadata entry (x-amz-meta-s3mount-sha256) holding the object's SHA-256, lower-case
 * hex, as `sha256sum` prints it. Written with every upload of a whole file; `s3mount verify`
 * checks an object against it.
 */
export const CHECKSUM_METADATA = 's3mount-sha256';

/** `md` without a checksum: one carried over from an older version of the object is stale. */
export function withoutChecksum(md: Record<string, string>): Record<string, string> {
  if (!(CHECKSUM_METADATA in md)) return { ...md };
  const { [CHECKSUM_METADATA]: _stale, ...rest } = md;
  return rest;
}

/** `md` with this content's checksum, or without one when it is not known. */
export function withChecksum(
  md: Record<string, string>,
  sha256Hex: string | undefined,
): Record<string, string> {
  const out = withoutChecksum(md);
  if (sha256Hex !== undefined) out[CHECKSUM_METADATA] = sha256Hex;
  return out;
}

export function md5Of(bytes: Uint8Array): Buffer {
  return createHash('md5').update(bytes).digest();
}

/** SHA-256 of a buffer in memory, hex, computed on a hash thread (not the JavaScript thread) unless small. */
export function sha256Of(bytes: Uint8Array): Promise<string> {
  return hashThreads.sha256(bytes);
}

function mismatch(op: string, key: string, why: string): StoreError {
  // not a permanent failure: a body damaged on the way is sent again (with backoff)
  return new StoreError('Other', `${op}: ${why}; the upload is not accepted`, {
    op,
    key,
    code: 'ETagMismatch',
  });
}

/**
 * Throws unless the server's ETag for a PutObject or UploadPart is the MD5 of the bytes
 * sent. Skipped only where S3 documents another ETag (SSE-KMS, SSE-C: `etagNotMd5`).
 */
export function checkWriteEtag(op: string, key: string, result: WriteResult, md5: Uint8Array): void {
  if (result.etagNotMd5) return;
  const want = Buffer.from(md5).toString('hex');
  if (result.etag.toLowerCase() !== want)
    throw mismatch(
      op,
      key,
      `the server's ETag ${JSON.stringify(result.etag)} is not the MD5 of the bytes sent (${want})`,
    );
}

/** PutObject with Content-MD5, its ETag checked. */
export async function putChecked(
  store: ObjectStore,
  p: PutParams & { body: Uint8Array },
): Promise<WriteResult> {
  const md5 = p.md5 ?? md5Of(p.body);
  const r = await store.put({ ...p, md5 });
  checkWriteEtag('PutObject', p.key, r, md5);
  return r;
}

/** UploadPart with Content-MD5, its ETag checked. */
export async function uploadPartChecked(
  store: ObjectStore,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Uint8Array,
): Promise<CompletedPart> {
  // Content-MD5 and the SigV4 payload hash, on the hash threads
  const [md5, sha256Hex] = await Promise.all([hashThreads.md5(body), hashThreads.sha256(body)]);
  const r = await store.uploadPart(key, uploadId, partNumber, body, body.length, md5, sha256Hex);
  checkWriteEtag('UploadPart', key, r, md5);
  return r;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const MULTIPART_ETAG = /^[0-9a-f]{32}-\d+$/;

/** S3's ETag of a completed multipart upload: MD5 of the parts' binary MD5s, "-", their count. */
export function multipartEtag(parts: CompletedPart[]): string | undefined {
  if (parts.length === 0 || !parts.every((p) => MD5_HEX.test(p.etag.toLowerCase()))) return undefined;
  const all = Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex')));
  return `${createHash('md5').update(all).digest('hex')}-${parts.length}`;
}

/**
 * Throws if CompleteMultipartUpload's ETag has S3's multipart form and is not the one the
 * parts give. An empty ETag (Ceph RGW 16) and other forms (s3rver's whole-object MD5) say
 * nothing that can be checked from the parts: accepted.
 */
export function checkCompleteEtag(key: string, etag: string, parts: CompletedPart[]): void {
  if (!MULTIPART_ETAG.test(etag.toLowerCase())) return;
  const want = multipartEtag(parts);
  if (want !== undefined && want !== etag.toLowerCase())
    throw mismatch(
      'CompleteMultipartUpload',
      key,
      `the server's ETag ${etag} is not the one of the parts sent (${want})`,
    );
}

/**
 * A SHA-256 over pieces that arrive out of order (parts read concurrently): piece `seq`
 * is hashed once all before it are (on a hash thread). A piece that will never come (its
 * read failed) is skipped: the hash is then unknown, and nobody waits for the missing piece.
 */
export class OrderedHash {
  private readonly hash: HashStream = hashThreads.stream();
  private nextSeq: number;
  private broken = false;
  private readonly waiting = new Map<number, () => void>();

  constructor(firstSeq = 1) {
    this.nextSeq = firstSeq;
  }

  /** Hashes `bytes` as piece `seq` once the pieces before it are in; resolves after. */
  async feed(seq: number, bytes: Uint8Array): Promise<void> {
    while (seq > this.nextSeq) await new Promise<void>((resolve) => this.waiting.set(seq, resolve));
    if (seq !== this.nextSeq) {
      this.broken = true; // fed twice: cannot happen unless a caller is wrong; the hash is unknown then
      return;
    }
    // the thread takes pieces in the order they are sent: the next may go before this one is done
    const hashed = this.broken ? undefined : this.hash.update(bytes);
    this.advance();
    await hashed;
  }

  /** Piece `seq` will not come: the hash is unknown from now on. */
  skip(seq: number): void {
    this.broken = true;
    if (seq === this.nextSeq) this.advance();
    else {
      // wake it when its turn comes, as if fed
      void this.feed(seq, new Uint8Array(0));
    }
  }

  private advance(): void {
    this.nextSeq++;
    const wake = this.waiting.get(this.nextSeq);
    this.waiting.delete(this.nextSeq);
    wake?.();
  }

  /** The next piece expected. */
  get next(): number {
    return this.nextSeq;
  }

  /** The hex digest, once every piece before `endSeq` is in; undefined if one was skipped. */
  async digest(endSeq: number): Promise<string | undefined> {
    if (this.broken || this.nextSeq !== endSeq) {
      this.hash.discard();
      return undefined;
    }
    return this.hash.digest();
  }

  /** No digest will be asked (the upload was given up). */
  discard(): void {
    this.hash.discard();
  }
}

/**
 * The SHA-256 of a staged file's first `size` bytes, read front to back in `chunkBytes`
 * pieces in one of the part buffers (before a multipart upload, whose metadata is sent
 * with CreateMultipartUpload, ahead of the parts).
 */
export async function hashStagedFile(
  file: UploadSource,
  size: number,
  parts: PartBuffers,
  chunkBytes: number,
): Promise<string | undefined> {
  const hash = hashThreads.stream();
  await parts.run(Math.min(size, chunkBytes), async (buf) => {
    for (let at = 0; at < size; at += buf.length) {
      const n = Math.min(buf.length, size - at);
      await hash.update(await file.readFully(buf.subarray(0, n), at));
    }
  });
  return hash.digest();
}
