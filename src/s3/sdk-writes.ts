// The writing half of SdkObjectStore: PutObject, the multipart calls and server-side
// copies, each one SDK command sent through the store's `call`. Bodies in memory carry
// Content-MD5, so the server refuses bytes damaged on the way (BadDigest).
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompleteMultipartUploadCommandOutput,
  type CopyObjectCommandOutput,
  type CreateMultipartUploadCommandOutput,
  type ListMultipartUploadsCommandOutput,
  type PutObjectCommandOutput,
  type UploadPartCommandOutput,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import { contentTypeFor } from './content-type.js';
import { withPayloadHash } from './middleware.js';
import { invalidResponse } from './response-check.js';
import type { CompletedPart, ObjectInfo, PutParams, UploadInfo, WriteResult } from './store.js';
import { normalizeEtag } from './xml-values.js';

/** What the writing calls need of the store: its bucket, its `call` and HEAD. */
export interface SdkCaller {
  readonly bucket: string;
  call<O, T>(op: string, key: string | undefined, command: object, then: (output: O) => T): Promise<T>;
  head(key: string): Promise<ObjectInfo>;
}

/** Content-MD5 for a body: the one given, else computed for a buffer; none for a stream. */
function contentMd5(body: unknown, md5: Uint8Array | undefined): { ContentMD5?: string } {
  if (md5 !== undefined) return { ContentMD5: Buffer.from(md5).toString('base64') };
  if (body instanceof Uint8Array) return { ContentMD5: createHash('md5').update(body).digest('base64') };
  return {};
}

/** The write's answer: its ETag, and whether S3's encryption made it something else than an MD5. */
function writeResult(r: {
  ETag?: string | undefined;
  ServerSideEncryption?: string | undefined;
  SSECustomerAlgorithm?: string | undefined;
}): WriteResult {
  const encrypted = (r.ServerSideEncryption ?? '').startsWith('aws:kms') || r.SSECustomerAlgorithm;
  return { etag: normalizeEtag(r.ETag), ...(encrypted ? { etagNotMd5: true as const } : {}) };
}

export function withType(type: string | undefined): { ContentType?: string } {
  return type !== undefined && type !== '' ? { ContentType: type } : {};
}

export async function putObject(s: SdkCaller, p: PutParams): Promise<WriteResult> {
  const command = new PutObjectCommand({
    Bucket: s.bucket,
    Key: p.key,
    Body: p.body as PutObjectCommand['input']['Body'],
    ContentLength: p.contentLength,
    ...contentMd5(p.body, p.md5),
    ...(p.metadata ? { Metadata: p.metadata } : {}),
    ...withType(p.contentType ?? contentTypeFor(p.key)),
  });
  return s.call(
    'PutObject',
    p.key,
    await withPayloadHash(command, p.body, p.sha256Hex),
    (r: PutObjectCommandOutput) => writeResult(r),
  );
}

export function createMultipart(
  s: SdkCaller,
  key: string,
  metadata?: Record<string, string>,
  contentType?: string,
): Promise<string> {
  const command = new CreateMultipartUploadCommand({
    Bucket: s.bucket,
    Key: key,
    ...(metadata ? { Metadata: metadata } : {}),
    ...withType(contentType ?? contentTypeFor(key)),
  });
  return s.call('CreateMultipartUpload', key, command, (r: CreateMultipartUploadCommandOutput) => {
    if (!r.UploadId) throw invalidResponse('CreateMultipartUpload', 'no UploadId', key);
    return r.UploadId;
  });
}

export async function uploadPart(
  s: SdkCaller,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Uint8Array | NodeJS.ReadableStream,
  contentLength: number,
  md5?: Uint8Array,
  sha256Hex?: string,
): Promise<CompletedPart> {
  const command = new UploadPartCommand({
    Bucket: s.bucket,
    Key: key,
    UploadId: uploadId,
    PartNumber: partNumber,
    Body: body as UploadPartCommand['input']['Body'],
    ContentLength: contentLength,
    ...contentMd5(body, md5),
  });
  return s.call(
    'UploadPart',
    key,
    await withPayloadHash(command, body, sha256Hex),
    (r: UploadPartCommandOutput) => ({
      partNumber,
      ...writeResult(r),
    }),
  );
}

export function completeMultipart(
  s: SdkCaller,
  key: string,
  uploadId: string,
  parts: CompletedPart[],
): Promise<{ etag: string }> {
  const command = new CompleteMultipartUploadCommand({
    Bucket: s.bucket,
    Key: key,
    UploadId: uploadId,
    MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })) },
  });
  return s.call('CompleteMultipartUpload', key, command, (r: CompleteMultipartUploadCommandOutput) => ({
    etag: normalizeEtag(r.ETag),
  }));
}

export function abortMultipart(s: SdkCaller, key: string, uploadId: string): Promise<void> {
  return s.call(
    'AbortMultipartUpload',
    key,
    new AbortMultipartUploadCommand({ Bucket: s.bucket, Key: key, UploadId: uploadId }),
    () => undefined,
  );
}

export async function listMultipart(s: SdkCaller, prefix: string): Promise<UploadInfo[]> {
  const out: UploadInfo[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const command = new ListMultipartUploadsCommand({
      Bucket: s.bucket,
      Prefix: prefix,
      ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
      ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
    });
    const r = await s.call(
      'ListMultipartUploads',
      prefix,
      command,
      (o: ListMultipartUploadsCommandOutput) => o,
    );
    for (const u of r.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId !== undefined)
        out.push({ key: u.Key, uploadId: u.UploadId, initiatedMs: u.Initiated?.getTime() ?? 0 });
    }
    // a server that says "truncated" without moving on would loop forever
    if (
      !r.IsTruncated ||
      r.NextKeyMarker === undefined ||
      (r.NextKeyMarker === keyMarker && r.NextUploadIdMarker === uploadIdMarker)
    )
      return out;
    keyMarker = r.NextKeyMarker;
    uploadIdMarker = r.NextUploadIdMarker;
  }
}

export async function copyObject(
  s: SdkCaller,
  fromKey: string,
  toKey: string,
  metadata?: Record<string, string>,
): Promise<{ etag: string }> {
  const newType = contentTypeFor(toKey);
  const typeChanges = newType !== undefined && newType !== contentTypeFor(fromKey);
  let replace:
    { Metadata: Record<string, string>; MetadataDirective: 'REPLACE'; ContentType?: string } | undefined;
  if (metadata || typeChanges) {
    // REPLACE sets metadata and type together: what is not changed comes from the source
    const src = await s.head(fromKey);
    const type = typeChanges ? newType : (src.contentType ?? newType);
    replace = { Metadata: metadata ?? src.metadata ?? {}, MetadataDirective: 'REPLACE', ...withType(type) };
  }
  const command = new CopyObjectCommand({
    Bucket: s.bucket,
    Key: toKey,
    CopySource: copySource(s.bucket, fromKey),
    ...replace,
  });
  return s.call('CopyObject', fromKey, command, (r: CopyObjectCommandOutput) => {
    if (r.CopyObjectResult?.ETag === undefined)
      throw invalidResponse('CopyObject', 'no CopyObjectResult', toKey);
    return { etag: normalizeEtag(r.CopyObjectResult.ETag) };
  });
}

export function uploadPartCopy(
  s: SdkCaller,
  fromKey: string,
  toKey: string,
  uploadId: string,
  partNumber: number,
  start: number,
  end: number,
): Promise<CompletedPart> {
  const command = new UploadPartCopyCommand({
    Bucket: s.bucket,
    Key: toKey,
    UploadId: uploadId,
    PartNumber: partNumber,
    CopySource: copySource(s.bucket, fromKey),
    CopySourceRange: `bytes=${start}-${end - 1}`,
  });
  return s.call('UploadPartCopy', fromKey, command, (r: UploadPartCopyCommandOutput) => {
    if (r.CopyPartResult?.ETag === undefined)
      throw invalidResponse('UploadPartCopy', 'no CopyPartResult', toKey);
    return { partNumber, etag: normalizeEtag(r.CopyPartResult.ETag) };
  });
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}
