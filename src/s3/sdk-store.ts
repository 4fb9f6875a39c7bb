// SdkObjectStore: ObjectStore on @aws-sdk/client-s3, the only importer of the SDK.
// Adds a deadline to every call and turns every failure into a StoreError.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompleteMultipartUploadCommandOutput,
  type CopyObjectCommandOutput,
  type CreateMultipartUploadCommandOutput,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type ListMultipartUploadsCommandOutput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandOutput,
  type S3ClientConfig,
  type UploadPartCommandOutput,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { DirectHttp, type BodyDest } from './direct-http.js';
import { credentialRefreshMiddleware, type RefreshingCredentials } from './credential-refresh.js';
import { parseRgwUsage, type BucketUsage } from './bucket-usage.js';
import { contentTypeFor } from './content-type.js';
import { classifyError, StoreError } from './errors.js';
import { fastListMiddleware } from './fast-list.js';
import type { TlsSettings } from './tls.js';
import { normalizeEtag } from './xml-values.js';
import { underDeserializer, withPayloadHash } from './middleware.js';
import { checkedBody, directGet, rangeExpectation } from './range-get.js';
import { checkRangeHead, invalidResponse, responseCheckMiddleware } from './response-check.js';
import type {
  CompletedPart,
  ListPage,
  ListParams,
  ObjectInfo,
  ObjectStore,
  PutParams,
  RangeRequest,
  UploadInfo,
} from './store.js';

export interface SdkStoreOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  /** the keys, asked for again when the server rejects them (credential-refresh.ts) */
  credentials: RefreshingCredentials;
  /** deadline for one S3 call, including retries */
  requestDeadlineMs: number;
  /** TCP connect timeout */
  connectTimeoutMs: number;
  maxSockets: number;
  maxAttempts: number;
  /** CAs for https (tls.ts); block fills over https go through the same agent (range-get.ts) */
  tls?: TlsSettings;
}

/** kept exported from here, where it was first */
export { normalizeEtag };

export class SdkObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  /** the transport of block fills over plain http */
  private readonly direct: DirectHttp;
  /** requests sent, by S3 operation name (reported in the daemon's stop log line) */
  readonly requestCounts: Record<string, number> = {};
  /** failed requests, by S3 operation and StoreError kind (status reports) */
  readonly errorCounts: Record<string, Record<string, number>> = {};
  /** ListObjectsV2 pages read by parseListPage (fast) or left to the SDK's parser (sdk) */
  readonly listPagesParsed = { fast: 0, sdk: 0 };

  constructor(private readonly opts: SdkStoreOptions) {
    this.bucket = opts.bucket;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets };
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.pathStyle,
      maxAttempts: opts.maxAttempts,
      // Older S3-compatible servers (Ceph RGW 16) reject the SDK's default
      // aws-chunked bodies with CRC trailers (411): checksums only where required.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs,
        httpAgent: new HttpAgent(agentOpts),
        httpsAgent: new HttpsAgent({ ...agentOpts, ...opts.tls }),
      },
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      credentials: unmemoized(() => opts.credentials.get()),
    };
    this.client = new S3Client(config);
    // every answer must be a valid S3 answer to its request (response-check.ts)
    this.client.middlewareStack.addRelativeTo(responseCheckMiddleware as never, {
      relation: 'after',
      toMiddleware: 'deserializerMiddleware',
      name: 's3mountResponseCheck',
    });
    this.client.middlewareStack.addRelativeTo(credentialRefreshMiddleware(opts.credentials) as never, {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: 's3mountCredentialRefresh',
    });
    this.direct = new DirectHttp({ connectTimeoutMs: opts.connectTimeoutMs, maxIdle: opts.maxSockets });
  }

  destroy(): void {
    this.client.destroy();
    this.direct.destroy();
  }

  /**
   * Sends one command under `abortSignal` (the call's deadline, see signal()), counted by operation; any
   * failure, also one `then` throws, becomes a StoreError for `op` and `key`.
   */
  private async call<O, T>(
    op: string,
    key: string | undefined,
    command: object,
    then: (output: O) => T,
    abortSignal: AbortSignal = this.signal(),
  ): Promise<T> {
    this.requestCounts[op] = (this.requestCounts[op] ?? 0) + 1;
    try {
      const output = await (this.client.send as (c: unknown, o?: unknown) => Promise<O>)(command, {
        abortSignal,
      });
      return then(output);
    } catch (err) {
      const e = classifyError(err, op, key);
      const byKind = (this.errorCounts[op] ??= {});
      byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
      throw e;
    }
  }

  private signal(extra?: AbortSignal): AbortSignal {
    const deadline = AbortSignal.timeout(this.opts.requestDeadlineMs);
    return extra ? AbortSignal.any([extra, deadline]) : deadline;
  }

  async checkBucket(prefix = ''): Promise<void> {
    try {
      await this.call(
        'HeadBucket',
        undefined,
        new HeadBucketCommand({ Bucket: this.bucket }),
        () => undefined,
      );
      // HeadBucket has no body to check: a one-key listing proves the endpoint speaks S3
      await this.list({ prefix, maxKeys: 1 });
    } catch (err) {
      const e = classifyError(err, 'HeadBucket');
      if (e.kind === 'NotFound')
        throw new StoreError('NoSuchBucket', 'no such bucket', e.detail, { cause: err });
      // HeadBucket has no body, so 403 does not tell bad keys from a denied bucket:
      // a ListObjectsV2 has an error code that does.
      if (e.kind === 'AccessDenied') {
        await this.call(
          'ListObjectsV2',
          undefined,
          new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }),
          () => undefined,
        );
        return;
      }
      throw e;
    }
  }

  /** HeadBucket's X-RGW-* headers (the SDK's output has no raw headers: read under its deserializer). */
  async usage(signal?: AbortSignal): Promise<BucketUsage | undefined> {
    const command = new HeadBucketCommand({ Bucket: this.bucket });
    let headers: Record<string, string | undefined> = {};
    underDeserializer(command, 's3mountUsageHeaders', (next) => async (args) => {
      const out = await next(args);
      headers = (out.response as { headers?: Record<string, string> }).headers ?? {};
      return out;
    });
    await this.call('HeadBucket', undefined, command, () => undefined, this.signal(signal));
    return parseRgwUsage(headers);
  }

  head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    return this.call(
      'HeadObject',
      key,
      new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
      (r: HeadObjectCommandOutput) => ({
        key,
        size: r.ContentLength ?? 0,
        etag: normalizeEtag(r.ETag),
        lastModifiedMs: r.LastModified?.getTime() ?? 0,
        metadata: lowerKeys(r.Metadata ?? {}),
        ...(r.ContentType !== undefined ? { contentType: r.ContentType } : {}),
      }),
      this.signal(signal),
    );
  }

  async list(params: ListParams, signal?: AbortSignal): Promise<ListPage> {
    const command = new ListObjectsV2Command({
      Bucket: this.bucket,
      Prefix: params.prefix,
      ...(params.delimiter !== undefined ? { Delimiter: params.delimiter } : {}),
      ...(params.maxKeys !== undefined ? { MaxKeys: params.maxKeys } : {}),
      ...(params.continuationToken !== undefined ? { ContinuationToken: params.continuationToken } : {}),
    });
    let fastPage: ListPage | undefined;
    underDeserializer(
      command,
      's3mountFastList',
      fastListMiddleware(params.prefix, (page) => (fastPage = page)),
    );
    return this.call(
      'ListObjectsV2',
      params.prefix,
      command,
      (r: ListObjectsV2CommandOutput) => {
        if (fastPage) {
          this.listPagesParsed.fast++;
          return fastPage;
        }
        this.listPagesParsed.sdk++;
        return pageFromSdk(r);
      },
      this.signal(signal),
    );
  }

  async getRange(req: RangeRequest): Promise<AsyncIterable<Uint8Array>> {
    if (req.end <= req.start)
      throw new StoreError('InvalidRange', 'empty range', { key: req.key, op: 'GetObject' });
    const body = await this.call(
      'GetObject',
      req.key,
      this.rangeCommand(req),
      (r: GetObjectCommandOutput) => {
        const b = r.Body as Readable | undefined;
        if (!b)
          throw new StoreError('Other', 'GetObject returned no body', { key: req.key, op: 'GetObject' });
        try {
          checkRangeHead(
            rangeExpectation(req),
            r.$metadata.httpStatusCode ?? 0,
            {
              'content-length': r.ContentLength === undefined ? undefined : String(r.ContentLength),
              'content-range': r.ContentRange,
              etag: r.ETag,
            },
            normalizeEtag,
          );
        } catch (err) {
          b.destroy();
          throw err;
        }
        return b;
      },
      this.signal(req.signal),
    );
    return checkedBody(body, req.key, req.end - req.start);
  }

  async readInto(req: RangeRequest, dest: BodyDest): Promise<void> {
    if (req.end <= req.start)
      throw new StoreError('InvalidRange', 'empty range', { key: req.key, op: 'GetObject' });
    const command = this.rangeCommand(req);
    const signal = this.signal(req.signal);
    const get = directGet(this.direct, req, dest, signal);
    underDeserializer(command, 's3mountDirectGet', get.middleware);
    await this.call(
      'GetObject',
      req.key,
      command,
      (r: GetObjectCommandOutput) => (r.Body as Readable | undefined)?.destroy(),
      signal,
    );
    const expect = req.end - req.start;
    if (get.delivered() !== expect)
      throw invalidResponse('GetObject', `a body of ${get.delivered()} bytes for ${expect} asked`, req.key);
  }

  private rangeCommand(req: RangeRequest): GetObjectCommand {
    return new GetObjectCommand({
      Bucket: this.bucket,
      Key: req.key,
      Range: `bytes=${req.start}-${req.end - 1}`,
      ...(req.etag ? { IfMatch: `"${req.etag}"` } : {}),
    });
  }

  async put(p: PutParams): Promise<{ etag: string }> {
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: p.key,
      Body: p.body as PutObjectCommand['input']['Body'],
      ContentLength: p.contentLength,
      ...(p.metadata ? { Metadata: p.metadata } : {}),
      ...withType(p.contentType ?? contentTypeFor(p.key)),
    });
    return this.call(
      'PutObject',
      p.key,
      await withPayloadHash(command, p.body),
      (r: PutObjectCommandOutput) => ({ etag: normalizeEtag(r.ETag) }),
    );
  }

  createMultipart(key: string, metadata?: Record<string, string>, contentType?: string): Promise<string> {
    const command = new CreateMultipartUploadCommand({
      Bucket: this.bucket,
      Key: key,
      ...(metadata ? { Metadata: metadata } : {}),
      ...withType(contentType ?? contentTypeFor(key)),
    });
    return this.call('CreateMultipartUpload', key, command, (r: CreateMultipartUploadCommandOutput) => {
      if (!r.UploadId) throw invalidResponse('CreateMultipartUpload', 'no UploadId', key);
      return r.UploadId;
    });
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array | NodeJS.ReadableStream,
    contentLength: number,
  ): Promise<CompletedPart> {
    const command = new UploadPartCommand({
      Bucket: this.bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body as UploadPartCommand['input']['Body'],
      ContentLength: contentLength,
    });
    return this.call(
      'UploadPart',
      key,
      await withPayloadHash(command, body),
      (r: UploadPartCommandOutput) => ({ partNumber, etag: normalizeEtag(r.ETag) }),
    );
  }

  completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }> {
    const command = new CompleteMultipartUploadCommand({
      Bucket: this.bucket,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })) },
    });
    return this.call('CompleteMultipartUpload', key, command, (r: CompleteMultipartUploadCommandOutput) => ({
      etag: normalizeEtag(r.ETag),
    }));
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return this.call(
      'AbortMultipartUpload',
      key,
      new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      () => undefined,
    );
  }

  async listMultipart(prefix: string): Promise<UploadInfo[]> {
    const out: UploadInfo[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const command = new ListMultipartUploadsCommand({
        Bucket: this.bucket,
        Prefix: prefix,
        ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
        ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
      });
      const r = await this.call(
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

  async copy(fromKey: string, toKey: string, metadata?: Record<string, string>): Promise<{ etag: string }> {
    const newType = contentTypeFor(toKey);
    const typeChanges = newType !== undefined && newType !== contentTypeFor(fromKey);
    let replace:
      { Metadata: Record<string, string>; MetadataDirective: 'REPLACE'; ContentType?: string } | undefined;
    if (metadata || typeChanges) {
      // REPLACE sets metadata and type together: what is not changed comes from the source
      const src = await this.head(fromKey);
      const type = typeChanges ? newType : (src.contentType ?? newType);
      replace = { Metadata: metadata ?? src.metadata ?? {}, MetadataDirective: 'REPLACE', ...withType(type) };
    }
    const command = new CopyObjectCommand({
      Bucket: this.bucket,
      Key: toKey,
      CopySource: this.copySource(fromKey),
      ...replace,
    });
    return this.call('CopyObject', fromKey, command, (r: CopyObjectCommandOutput) => {
      if (r.CopyObjectResult?.ETag === undefined)
        throw invalidResponse('CopyObject', 'no CopyObjectResult', toKey);
      return { etag: normalizeEtag(r.CopyObjectResult.ETag) };
    });
  }

  uploadPartCopy(
    fromKey: string,
    toKey: string,
    uploadId: string,
    partNumber: number,
    start: number,
    end: number,
  ): Promise<CompletedPart> {
    const command = new UploadPartCopyCommand({
      Bucket: this.bucket,
      Key: toKey,
      UploadId: uploadId,
      PartNumber: partNumber,
      CopySource: this.copySource(fromKey),
      CopySourceRange: `bytes=${start}-${end - 1}`,
    });
    return this.call('UploadPartCopy', fromKey, command, (r: UploadPartCopyCommandOutput) => {
      if (r.CopyPartResult?.ETag === undefined)
        throw invalidResponse('UploadPartCopy', 'no CopyPartResult', toKey);
      return { partNumber, etag: normalizeEtag(r.CopyPartResult.ETag) };
    });
  }

  private copySource(key: string): string {
    return `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
  }

  delete(key: string): Promise<void> {
    return this.call(
      'DeleteObject',
      key,
      new DeleteObjectCommand({ Bucket: this.bucket, Key: key }),
      () => undefined,
    );
  }
}

/**
 * The SDK memoizes a credentials function and, for keys without an expiry, never calls it
 * again; its SigV4 signer signs with what that returns. Marked as memoized already, the
 * function is called for every signature, so new keys are used as soon as they are loaded.
 */
function unmemoized<T>(fn: () => Promise<T>): () => Promise<T> {
  return Object.assign(fn, { memoized: true });
}

function withType(type: string | undefined): { ContentType?: string } {
  return type !== undefined && type !== '' ? { ContentType: type } : {};
}

function lowerKeys(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = v;
  return out;
}

/** The page in the SDK's own ListObjectsV2 output. */
export function pageFromSdk(r: ListObjectsV2CommandOutput): ListPage {
  const objects: ObjectInfo[] = (r.Contents ?? []).flatMap((o) =>
    o.Key === undefined
      ? []
      : [
          {
            key: o.Key,
            size: o.Size ?? 0,
            etag: normalizeEtag(o.ETag),
            lastModifiedMs: o.LastModified?.getTime() ?? 0,
          },
        ],
  );
  const prefixes = (r.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix]));
  const page: ListPage = { objects, prefixes };
  if (r.IsTruncated && r.NextContinuationToken) page.nextToken = r.NextContinuationToken;
  return page;
}
