// SdkObjectStore: ObjectStore on @aws-sdk/client-s3 (with sdk-writes.ts, the only importers
// of the SDK). Adds a deadline to every call and turns every failure into a StoreError.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { BodyDest, DirectHttp } from './direct-http.js';
import { parseRgwUsage, type BucketUsage } from './bucket-usage.js';
import { classifyError, StoreError } from './errors.js';
import { fastListMiddleware } from './fast-list.js';
import { LeanS3 } from './lean-s3.js';
import { contentTypeFor } from './content-type.js';
import { normalizeEtag } from './xml-values.js';
import { underDeserializer } from './middleware.js';
import { presignGetUrl } from './presign.js';
import { checkedBody, directGet, lowerKeys, rangeExpectation } from './range-get.js';
import { checkRangeHead, invalidResponse } from './response-check.js';
import * as writes from './sdk-writes.js';
import type { S3RetryStrategy } from './retry.js';
import { makeClients, type SdkStoreOptions } from './sdk-client.js';
import type {
  CompletedPart,
  ListPage,
  ListParams,
  ObjectInfo,
  ObjectStore,
  PutParams,
  RangeRequest,
  UploadInfo,
  WriteResult,
} from './store.js';

/** kept exported from here, where they were first */
export { normalizeEtag };
export { POOL_IDLE_MS, type SdkStoreOptions } from './sdk-client.js';

export class SdkObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  /** the transport of block fills over plain http */
  private readonly direct: DirectHttp;
  /** PUTs of bodies in memory and block fills without the SDK, where it can (plain http, path-style) */
  private readonly lean: LeanS3 | undefined;
  /** requests sent, by S3 operation name (reported in the daemon's stop log line) */
  readonly requestCounts: Record<string, number> = {};
  /** failed requests, by S3 operation and StoreError kind (status reports) */
  readonly errorCounts: Record<string, Record<string, number>> = {};
  /** ListObjectsV2 pages read by parseListPage (fast) or left to the SDK's parser (sdk) */
  readonly listPagesParsed = { fast: 0, sdk: 0 };
  /** what the writing calls (sdk-writes.ts) use of this store */
  private readonly writer: writes.SdkCaller;

  /** `parent`: a store of another bucket whose client, connections and counters this one shares (forBucket) */
  constructor(
    private readonly opts: SdkStoreOptions,
    private readonly parent?: SdkObjectStore,
  ) {
    this.bucket = opts.bucket;
    this.writer = {
      bucket: opts.bucket,
      call: (op, key, command, then) => this.call(op, key, command, then),
      head: (key) => this.head(key),
    };
    if (parent) {
      this.client = parent.client;
      this.direct = parent.direct;
      this.requestCounts = parent.requestCounts;
      this.errorCounts = parent.errorCounts;
      this.listPagesParsed = parent.listPagesParsed;
      this.lean = parent.lean;
      return;
    }
    ({ client: this.client, direct: this.direct } = makeClients(opts));
    this.lean = LeanS3.forStore(opts, this.direct);
  }

  /** the retry strategy and pace, for reports */
  get retry(): S3RetryStrategy | undefined {
    return this.opts.retry;
  }

  /**
   * The store of another bucket over this one's client: one connection pool, one set of
   * counters, one set of keys (a whole-account mount). Its destroy() does nothing.
   */
  forBucket(bucket: string): SdkObjectStore {
    return new SdkObjectStore({ ...this.opts, bucket }, this.parent ?? this);
  }

  /** Sends a command about the account, not an object (account-store.ts), like every other: deadline, counted, StoreError. */
  sendAccountCommand<O>(op: string, command: object, signal?: AbortSignal): Promise<O> {
    return this.call(op, undefined, command, (o: O) => o, this.signal(signal));
  }

  destroy(): void {
    if (this.parent) return; // the parent owns the client
    this.client.destroy();
    this.direct.destroy();
  }

  /**
   * Sends one command under `abortSignal` (the call's deadline, see signal()), counted by operation; any
   * failure, also one `then` throws, becomes a StoreError for `op` and `key`.
   */
  private call<O, T>(
    op: string,
    key: string | undefined,
    command: object,
    then: (output: O) => T,
    abortSignal: AbortSignal = this.signal(),
  ): Promise<T> {
    return this.counted(op, key, async () => {
      const output = await (this.client.send as (c: unknown, o?: unknown) => Promise<O>)(command, {
        abortSignal,
      });
      return then(output);
    });
  }

  /** Runs one request for `op`, counted; any failure becomes a StoreError for `op` and `key`. */
  private async counted<T>(op: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    this.requestCounts[op] = (this.requestCounts[op] ?? 0) + 1;
    try {
      return await run();
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

  /** A presigned GET URL for `key` (presign.ts), signed with the current keys; sends nothing. */
  async presignGet(key: string, expiresSec: number): Promise<string> {
    try {
      return await presignGetUrl(this.client, this.bucket, key, expiresSec);
    } catch (err) {
      throw classifyError(err, 'PresignGetObject', key);
    }
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
    const signal = this.signal(req.signal);
    const expect = req.end - req.start;
    const lean = this.lean;
    if (lean) {
      const got = await this.counted('GetObject', req.key, () =>
        lean.readInto(this.bucket, req, dest, signal),
      );
      if (got !== expect)
        throw invalidResponse('GetObject', `a body of ${got} bytes for ${expect} asked`, req.key);
      return;
    }
    const command = this.rangeCommand(req);
    const get = directGet(this.direct, req, dest, signal);
    underDeserializer(command, 's3mountDirectGet', get.middleware);
    await this.call(
      'GetObject',
      req.key,
      command,
      (r: GetObjectCommandOutput) => (r.Body as Readable | undefined)?.destroy(),
      signal,
    );
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

  put(p: PutParams): Promise<WriteResult> {
    const type = p.contentType ?? contentTypeFor(p.key);
    const lean = this.lean;
    if (lean && LeanS3.canPut(p, type))
      return this.counted('PutObject', p.key, () => lean.put(this.bucket, p, type, this.signal()));
    return writes.putObject(this.writer, p);
  }

  createMultipart(key: string, metadata?: Record<string, string>, contentType?: string): Promise<string> {
    return writes.createMultipart(this.writer, key, metadata, contentType);
  }

  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array | NodeJS.ReadableStream,
    contentLength: number,
    md5?: Uint8Array,
    sha256Hex?: string,
  ): Promise<CompletedPart> {
    return writes.uploadPart(this.writer, key, uploadId, partNumber, body, contentLength, md5, sha256Hex);
  }

  completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }> {
    return writes.completeMultipart(this.writer, key, uploadId, parts);
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return writes.abortMultipart(this.writer, key, uploadId);
  }

  listMultipart(prefix: string): Promise<UploadInfo[]> {
    return writes.listMultipart(this.writer, prefix);
  }

  copy(fromKey: string, toKey: string, metadata?: Record<string, string>): Promise<{ etag: string }> {
    return writes.copyObject(this.writer, fromKey, toKey, metadata);
  }

  uploadPartCopy(
    fromKey: string,
    toKey: string,
    uploadId: string,
    partNumber: number,
    start: number,
    end: number,
  ): Promise<CompletedPart> {
    return writes.uploadPartCopy(this.writer, fromKey, toKey, uploadId, partNumber, start, end);
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
