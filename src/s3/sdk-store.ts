// SdkObjectStore: ObjectStore on @aws-sdk/client-s3, the only importer of the SDK.
// Adds a deadline to every call and turns every failure into a StoreError.
import { webcrypto } from 'node:crypto';
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
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { finished, type Readable } from 'node:stream';
import { classifyError, StoreError } from './errors.js';
import type { CompletedPart, ListPage, ListParams, ObjectInfo, ObjectStore, PutParams, RangeRequest } from './store.js';

/** bodies smaller than this are hashed by the signer as before: a pool round trip costs more */
const OFF_THREAD_HASH_MIN_BYTES = 256 * 1024;

export interface SdkStoreOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  profile?: string;
  /** deadline for one S3 call, including retries */
  requestDeadlineMs: number;
  /** TCP connect timeout */
  connectTimeoutMs: number;
  maxSockets: number;
  maxAttempts: number;
}

/** Removes the quotes S3 puts around ETags (CopyObject on RGW sends none). */
export function normalizeEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^W\//, '').replace(/^"+|"+$/g, '');
}

export class SdkObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  /** requests sent, by S3 operation name (reported in the daemon's stop log line) */
  readonly requestCounts: Record<string, number> = {};

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
        httpsAgent: new HttpsAgent(agentOpts),
      },
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    };
    this.client = new S3Client(config);
  }

  /** The resolved access key id (for redaction); undefined if none could be found. */
  async accessKeyForRedaction(): Promise<{ accessKeyId: string; secretAccessKey: string } | undefined> {
    try {
      const creds = await this.client.config.credentials();
      return { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
    } catch {
      return undefined; // no credentials: checkBucket reports it
    }
  }

  destroy(): void {
    this.client.destroy();
  }

  private send: S3Client['send'] = ((command: { constructor: { name: string } }, options?: unknown) => {
    const op = command.constructor.name.replace(/Command$/, '');
    this.requestCounts[op] = (this.requestCounts[op] ?? 0) + 1;
    return (this.client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
  }) as S3Client['send'];

  /**
   * SigV4 over http signs the payload: the SDK hashes every uploaded byte (SHA-256) on
   * the JavaScript thread, 13% of its time in a 1 GiB write (profiled). The hash is
   * computed on libuv's pool instead (WebCrypto) and handed to the signer, which uses an
   * x-amz-content-sha256 header it finds rather than hashing again.
   */
  private async hashedPayload<C extends object>(command: C, body: unknown): Promise<C> {
    if (!(body instanceof Uint8Array) || body.byteLength < OFF_THREAD_HASH_MIN_BYTES) return command;
    const hex = Buffer.from(await webcrypto.subtle.digest('SHA-256', body)).toString('hex');
    const stack = (command as unknown as { middlewareStack: { add(mw: unknown, opts: unknown): void } }).middlewareStack;
    stack.add(
      (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => {
        const req = args.request as { headers?: Record<string, string> };
        if (req.headers) req.headers['x-amz-content-sha256'] = hex;
        return next(args);
      },
      { step: 'build', name: 's3mountPayloadHash' },
    );
    return command;
  }

  private signal(extra?: AbortSignal): AbortSignal {
    const deadline = AbortSignal.timeout(this.opts.requestDeadlineMs);
    return extra ? AbortSignal.any([extra, deadline]) : deadline;
  }

  async checkBucket(): Promise<void> {
    try {
      await this.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: this.signal() });
    } catch (err) {
      const e = classifyError(err, 'HeadBucket');
      if (e.kind === 'NotFound') throw new StoreError('NoSuchBucket', 'no such bucket', e.detail, { cause: err });
      if (e.kind === 'Other' && isCredentialsProviderError(err)) {
        throw new StoreError('InvalidCredentials', 'no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or --profile)', e.detail, { cause: err });
      }
      // HeadBucket has no body, so 403 does not tell bad keys from a denied bucket:
      // a ListObjectsV2 with max-keys 0 has an error code that does.
      if (e.kind === 'AccessDenied') {
        try {
          await this.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }), { abortSignal: this.signal() });
          return;
        } catch (err2) {
          throw classifyError(err2, 'ListObjectsV2');
        }
      }
      throw e;
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    try {
      const r = await this.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: this.signal(signal) });
      return {
        key,
        size: r.ContentLength ?? 0,
        etag: normalizeEtag(r.ETag),
        lastModifiedMs: r.LastModified?.getTime() ?? 0,
        metadata: lowerKeys(r.Metadata ?? {}),
      };
    } catch (err) {
      throw classifyError(err, 'HeadObject', key);
    }
  }

  async list(params: ListParams, signal?: AbortSignal): Promise<ListPage> {
    try {
      const r = await this.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: params.prefix,
          ...(params.delimiter !== undefined ? { Delimiter: params.delimiter } : {}),
          ...(params.maxKeys !== undefined ? { MaxKeys: params.maxKeys } : {}),
          ...(params.continuationToken !== undefined ? { ContinuationToken: params.continuationToken } : {}),
        }),
        { abortSignal: this.signal(signal) },
      );
      const objects: ObjectInfo[] = (r.Contents ?? []).flatMap((o) =>
        o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, etag: normalizeEtag(o.ETag), lastModifiedMs: o.LastModified?.getTime() ?? 0 }],
      );
      const prefixes = (r.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix]));
      const page: ListPage = { objects, prefixes };
      if (r.IsTruncated && r.NextContinuationToken) page.nextToken = r.NextContinuationToken;
      return page;
    } catch (err) {
      throw classifyError(err, 'ListObjectsV2', params.prefix);
    }
  }

  async getRange(req: RangeRequest): Promise<AsyncIterable<Uint8Array>> {
    return wrapBody(await this.openRange(req), req.key);
  }

  async readRange(req: RangeRequest, sink: (chunk: Uint8Array) => void): Promise<void> {
    const body = await this.openRange(req);
    await new Promise<void>((resolve, reject) => {
      body.on('data', (chunk: Uint8Array) => {
        try {
          sink(chunk);
        } catch (err) {
          body.destroy(err as Error);
        }
      });
      finished(body, (err) => {
        body.destroy();
        if (err) reject(err instanceof StoreError ? err : classifyError(err, 'GetObject', req.key));
        else resolve();
      });
    });
  }

  /** The response body of a ranged GET, pinned to req.etag when given. */
  private async openRange(req: RangeRequest): Promise<Readable> {
    if (req.end <= req.start) throw new StoreError('InvalidRange', 'empty range', { key: req.key, op: 'GetObject' });
    try {
      const r = await this.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: req.key,
          Range: `bytes=${req.start}-${req.end - 1}`,
          ...(req.etag ? { IfMatch: `"${req.etag}"` } : {}),
        }),
        { abortSignal: this.signal(req.signal) },
      );
      const body = r.Body as Readable | undefined;
      if (!body) throw new StoreError('Other', 'GetObject returned no body', { key: req.key, op: 'GetObject' });
      const got = normalizeEtag(r.ETag);
      if (req.etag && got && got !== req.etag) {
        body.destroy();
        throw new StoreError('PreconditionFailed', 'object changed (ETag mismatch)', { key: req.key, op: 'GetObject' });
      }
      return body;
    } catch (err) {
      throw classifyError(err, 'GetObject', req.key);
    }
  }

  async put(p: PutParams): Promise<{ etag: string }> {
    try {
      const r = await this.send(
        await this.hashedPayload(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: p.key,
            Body: p.body as PutObjectCommand['input']['Body'],
            ContentLength: p.contentLength,
            ...(p.metadata ? { Metadata: p.metadata } : {}),
            ...(p.contentType ? { ContentType: p.contentType } : {}),
          }),
          p.body,
        ),
        { abortSignal: this.signal() },
      );
      return { etag: normalizeEtag(r.ETag) };
    } catch (err) {
      throw classifyError(err, 'PutObject', p.key);
    }
  }

  async createMultipart(key: string, metadata?: Record<string, string>, contentType?: string): Promise<string> {
    try {
      const r = await this.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...(metadata ? { Metadata: metadata } : {}), ...(contentType ? { ContentType: contentType } : {}) }),
        { abortSignal: this.signal() },
      );
      if (!r.UploadId) throw new StoreError('Other', 'CreateMultipartUpload returned no UploadId', { key, op: 'CreateMultipartUpload' });
      return r.UploadId;
    } catch (err) {
      throw classifyError(err, 'CreateMultipartUpload', key);
    }
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array | NodeJS.ReadableStream, contentLength: number): Promise<CompletedPart> {
    try {
      const r = await this.send(
        await this.hashedPayload(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body as UploadPartCommand['input']['Body'], ContentLength: contentLength }), body),
        { abortSignal: this.signal() },
      );
      return { partNumber, etag: normalizeEtag(r.ETag) };
    } catch (err) {
      throw classifyError(err, 'UploadPart', key);
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }> {
    try {
      const r = await this.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })) },
        }),
        { abortSignal: this.signal() },
      );
      return { etag: normalizeEtag(r.ETag) };
    } catch (err) {
      throw classifyError(err, 'CompleteMultipartUpload', key);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), { abortSignal: this.signal() });
    } catch (err) {
      throw classifyError(err, 'AbortMultipartUpload', key);
    }
  }

  async copy(fromKey: string, toKey: string, metadata?: Record<string, string>): Promise<{ etag: string }> {
    try {
      const r = await this.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          CopySource: this.copySource(fromKey),
          ...(metadata ? { Metadata: metadata, MetadataDirective: 'REPLACE' } : {}),
        }),
        { abortSignal: this.signal() },
      );
      return { etag: normalizeEtag(r.CopyObjectResult?.ETag) };
    } catch (err) {
      throw classifyError(err, 'CopyObject', fromKey);
    }
  }

  async uploadPartCopy(fromKey: string, toKey: string, uploadId: string, partNumber: number, start: number, end: number): Promise<CompletedPart> {
    try {
      const r = await this.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: toKey,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: this.copySource(fromKey),
          CopySourceRange: `bytes=${start}-${end - 1}`,
        }),
        { abortSignal: this.signal() },
      );
      return { partNumber, etag: normalizeEtag(r.CopyPartResult?.ETag) };
    } catch (err) {
      throw classifyError(err, 'UploadPartCopy', fromKey);
    }
  }

  private copySource(key: string): string {
    return `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: this.signal() });
    } catch (err) {
      throw classifyError(err, 'DeleteObject', key);
    }
  }
}

function lowerKeys(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = v;
  return out;
}

function isCredentialsProviderError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: string }).name === 'CredentialsProviderError';
}

async function* wrapBody(body: Readable, key: string): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk as Uint8Array;
  } catch (err) {
    throw classifyError(err, 'GetObject', key);
  } finally {
    body.destroy();
  }
}
