// ObjectStore: the one seam between the filesystem and S3. Keys are full S3 keys.
// Implemented on @aws-sdk/client-s3 in sdk-store.ts; every method throws StoreError only.
import type { BucketUsage } from './bucket-usage.js';
import type { BodyDest } from './direct-http.js';

export type { BodyDest, BucketUsage };

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string; // as the server sent it, quotes removed
  lastModifiedMs: number;
  /** user metadata (x-amz-meta-*), lower-case names without the prefix; only from HEAD */
  metadata?: Record<string, string>;
  /** Content-Type; only from HEAD */
  contentType?: string;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** common prefixes (with the trailing delimiter) */
  prefixes: string[];
  nextToken?: string;
}

export interface ListParams {
  prefix: string;
  delimiter?: string;
  maxKeys?: number;
  continuationToken?: string;
}

export interface RangeRequest {
  key: string;
  /** first byte, inclusive */
  start: number;
  /** last byte, exclusive; must be > start */
  end: number;
  /** the read fails with PreconditionFailed if the object no longer has this ETag */
  etag?: string;
  /** the size of the object the range is taken from: an answer for another size fails with PreconditionFailed */
  objectSize?: number;
  signal?: AbortSignal;
}

export interface PutParams {
  key: string;
  body: Uint8Array | NodeJS.ReadableStream;
  contentLength: number;
  metadata?: Record<string, string>;
  contentType?: string;
  /**
   * The body's MD5 (16 bytes), sent as Content-MD5: the server refuses a body that does
   * not match (BadDigest). Computed by the store when absent and the body is a buffer.
   */
  md5?: Uint8Array;
  /** the body's SHA-256 (hex) when the caller has it: the request signer uses it */
  sha256Hex?: string;
}

/** What a PutObject or UploadPart answered. */
export interface WriteResult {
  etag: string;
  /**
   * The server said the data is stored encrypted with a key it manages or the client's
   * (SSE-KMS, SSE-C): then S3's ETag is not the MD5 of the bytes sent.
   */
  etagNotMd5?: true;
}

export interface CompletedPart extends WriteResult {
  partNumber: number;
}

/** A multipart upload in progress (ListMultipartUploads). */
export interface UploadInfo {
  key: string;
  uploadId: string;
  /** when the server says it was created (ms since the epoch; 0 if not said) */
  initiatedMs: number;
}

export interface ObjectStore {
  readonly bucket: string;
  /** Fails with NoSuchBucket / AccessDenied / InvalidCredentials / Unreachable. */
  checkBucket(): Promise<void>;
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo>;
  list(params: ListParams, signal?: AbortSignal): Promise<ListPage>;
  /** Streams bytes [start, end) of the object. */
  getRange(req: RangeRequest): Promise<AsyncIterable<Uint8Array>>;
  /**
   * Reads bytes [start, end) of the object into memory `dest` hands out (the block
   * cache's hot path: over plain http the socket reads straight into it); resolves after
   * the last byte. If `dest` throws, the request is aborted and this rejects.
   */
  readInto(req: RangeRequest, dest: BodyDest): Promise<void>;
  put(params: PutParams): Promise<WriteResult>;
  createMultipart(key: string, metadata?: Record<string, string>, contentType?: string): Promise<string>;
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array | NodeJS.ReadableStream,
    contentLength: number,
    /** the part's MD5 (16 bytes), sent as Content-MD5; computed by the store when absent for a buffer */
    md5?: Uint8Array,
    /** the part's SHA-256, hex, when the caller has it (the SigV4 payload hash) */
    sha256Hex?: string,
  ): Promise<CompletedPart>;
  completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Multipart uploads in progress whose keys start with `prefix` (all pages). */
  listMultipart(prefix: string): Promise<UploadInfo[]>;
  /**
   * Server-side copy (up to 5 GiB); with metadata, replaces the object's metadata. Objects
   * written get a Content-Type from their key's extension (content-type.ts); a copy to a
   * key whose extension has another type gets that type, otherwise it keeps its own.
   */
  copy(fromKey: string, toKey: string, metadata?: Record<string, string>): Promise<{ etag: string }>;
  /** Server-side copy of one byte range [start, end) into a multipart upload part. */
  uploadPartCopy(
    fromKey: string,
    toKey: string,
    uploadId: string,
    partNumber: number,
    start: number,
    end: number,
  ): Promise<CompletedPart>;
  delete(key: string): Promise<void>;
  /** The bucket's usage and quotas if the server tells them (Ceph RGW); undefined if not. Optional. */
  usage?(signal?: AbortSignal): Promise<BucketUsage | undefined>;
  /**
   * A presigned GET URL for `key`, valid `expiresSec` seconds (1 .. 7 days), signed with
   * the current keys; sends no request. Optional: a store without it cannot share links.
   */
  presignGet?(key: string, expiresSec: number): Promise<string>;
}
