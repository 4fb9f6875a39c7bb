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
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ListObjectsV2CommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { finished, Readable } from 'node:stream';
import { copyInto, DirectHttp, type BodyDest, type DirectRequest } from './direct-http.js';
import { classifyError, StoreError } from './errors.js';
import { normalizeEtag, parseListPage } from './list-xml.js';
import { checkRangeHead, invalidResponse, responseCheckMiddleware, type RangeExpectation } from './response-check.js';
import type { CompletedPart, ListPage, ListParams, ObjectInfo, ObjectStore, PutParams, RangeRequest, UploadInfo } from './store.js';

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

/** kept exported from here, where it was first: list-xml.ts needs it and this module imports that one */
export { normalizeEtag };

export class SdkObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  /** the transport of block fills over plain http */
  private readonly direct: DirectHttp;
  /** requests sent, by S3 operation name (reported in the daemon's stop log line) */
  readonly requestCounts: Record<string, number> = {};
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
        httpsAgent: new HttpsAgent(agentOpts),
      },
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    };
    this.client = new S3Client(config);
    // every answer must be a valid S3 answer to its request (response-check.ts)
    this.client.middlewareStack.addRelativeTo(responseCheckMiddleware as never, { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 's3mountResponseCheck' });
    this.direct = new DirectHttp({ connectTimeoutMs: opts.connectTimeoutMs, maxIdle: opts.maxSockets });
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
    this.direct.destroy();
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

  async checkBucket(prefix = ''): Promise<void> {
    try {
      await this.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: this.signal() });
      // HeadBucket has no body to check: a one-key listing proves the endpoint speaks S3
      await this.list({ prefix, maxKeys: 1 });
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
    const command = new ListObjectsV2Command({
      Bucket: this.bucket,
      Prefix: params.prefix,
      ...(params.delimiter !== undefined ? { Delimiter: params.delimiter } : {}),
      ...(params.maxKeys !== undefined ? { MaxKeys: params.maxKeys } : {}),
      ...(params.continuationToken !== undefined ? { ContinuationToken: params.continuationToken } : {}),
    });
    // The SDK's XML deserialization costs more CPU than the server's answer takes (30 ms per
    // 1,000 keys): inside the SDK's retries and under its deserializer, a 2xx body is read
    // here with parseListPage and the SDK is handed an empty one. A body parseListPage does
    // not understand goes on to the SDK as it came; errors are not touched.
    let fastPage: ListPage | undefined;
    (command.middlewareStack as unknown as { addRelativeTo(mw: unknown, opts: unknown): void }).addRelativeTo(
      (next: (args: unknown) => Promise<{ response: unknown }>) => async (args: unknown) => {
        fastPage = undefined; // a retried attempt starts over
        const out = await next(args);
        const response = out.response as { statusCode: number; body: unknown };
        if (response.statusCode < 200 || response.statusCode >= 300 || !(response.body instanceof Readable)) return out;
        const body = await readAll(response.body);
        const text = body.toString('utf8');
        fastPage = parseListPage(text);
        // an <Error> in a 200 goes on to the SDK, which raises it as the error it is
        if (!fastPage && !/<(ListBucketResult|Error)[\s>]/.test(text)) throw invalidResponse('ListObjectsV2', `HTTP ${response.statusCode} without a ListBucketResult`, params.prefix);
        response.body = Readable.from(fastPage ? [] : [body]);
        return out;
      },
      { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 's3mountFastList' },
    );
    try {
      const r = await this.send(command, { abortSignal: this.signal(signal) });
      if (fastPage) {
        this.listPagesParsed.fast++;
        return fastPage;
      }
      this.listPagesParsed.sdk++;
      return pageFromSdk(r);
    } catch (err) {
      throw classifyError(err, 'ListObjectsV2', params.prefix);
    }
  }

  async getRange(req: RangeRequest): Promise<AsyncIterable<Uint8Array>> {
    return wrapBody(await this.openRange(req), req.key, req.end - req.start);
  }

  async readInto(req: RangeRequest, dest: BodyDest): Promise<void> {
    if (req.end <= req.start) throw new StoreError('InvalidRange', 'empty range', { key: req.key, op: 'GetObject' });
    const signal = this.signal(req.signal);
    const expect = req.end - req.start;
    const want = rangeExpectation(req);
    let delivered = 0;
    const counted: BodyDest = {
      space: () => dest.space(),
      filled: (n) => {
        delivered += n;
        dest.filled(n);
      },
    };
    // Bytes handed out cannot be taken back, and a retried GET's body would be written
    // after them from its first byte again (wrong bytes at the wrong offset). So a failure
    // after the first body byte ends this call, without the SDK's retries: it goes up with
    // no `cause`, which the SDK's retry decision looks into (ECONNRESET is transient to it).
    // The caller asks again for exactly the blocks still missing (ObjectReader.refetch).
    const final = (err: unknown): StoreError => {
      const e = classifyError(err, 'GetObject', req.key);
      return new StoreError(e.kind, `${e.message}, after ${delivered} of ${expect} bytes`, e.detail);
    };
    const command = this.rangeCommand(req);
    // Signed, inside the SDK's retries and under its deserializer, the request goes out on DirectHttp
    // with its body read straight into `dest`; over https, the SDK's own handler sends it
    // and its body is copied in. The SDK then deserializes a response with an empty body.
    // Either way the answer's head is checked (range, length, ETag) before any body byte is used.
    (command.middlewareStack as unknown as { addRelativeTo(mw: unknown, opts: unknown): void }).addRelativeTo(
      (next: (args: { request: unknown }) => Promise<{ response: unknown }>) => async (args: { request: unknown }) => {
        if (delivered > 0) throw new StoreError('Other', `GetObject retried after ${delivered} of ${expect} bytes had been handed out`, { key: req.key, op: 'GetObject' });
        const request = args.request as SignedRequest;
        try {
          if (request.protocol === 'http:') {
            const r = await this.direct.request(directRequest(request), counted, expect, signal, (head) => checkRangeHead(want, head.statusCode, head.headers, normalizeEtag));
            return { response: { statusCode: r.statusCode, reason: '', headers: r.headers, body: Readable.from(r.body.length > 0 ? [r.body] : []) }, output: undefined };
          }
          const out = await next(args);
          const response = out.response as { statusCode: number; headers: Record<string, string>; body: Readable };
          if (response.statusCode < 200 || response.statusCode >= 300) return out;
          checkRangeHead(want, response.statusCode, lowerKeys(response.headers), normalizeEtag);
          await pump(response.body, counted);
          return { ...out, response: { ...response, body: Readable.from([]) } };
        } catch (err) {
          if (delivered > 0) throw final(err);
          throw err;
        }
      },
      { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 's3mountDirectGet' },
    );
    try {
      const r = await this.send(command, { abortSignal: signal });
      (r.Body as Readable | undefined)?.destroy();
    } catch (err) {
      throw classifyError(err, 'GetObject', req.key);
    }
    if (delivered !== expect) throw invalidResponse('GetObject', `a body of ${delivered} bytes for ${expect} asked`, req.key);
  }

  private rangeCommand(req: RangeRequest): GetObjectCommand {
    return new GetObjectCommand({
      Bucket: this.bucket,
      Key: req.key,
      Range: `bytes=${req.start}-${req.end - 1}`,
      ...(req.etag ? { IfMatch: `"${req.etag}"` } : {}),
    });
  }

  /** The response body of a ranged GET, pinned to req.etag when given. */
  private async openRange(req: RangeRequest): Promise<Readable> {
    if (req.end <= req.start) throw new StoreError('InvalidRange', 'empty range', { key: req.key, op: 'GetObject' });
    try {
      const r = await this.send(this.rangeCommand(req), { abortSignal: this.signal(req.signal) });
      const body = r.Body as Readable | undefined;
      if (!body) throw new StoreError('Other', 'GetObject returned no body', { key: req.key, op: 'GetObject' });
      try {
        checkRangeHead(rangeExpectation(req), r.$metadata.httpStatusCode ?? 0, {
          'content-length': r.ContentLength === undefined ? undefined : String(r.ContentLength),
          'content-range': r.ContentRange,
          etag: r.ETag,
        }, normalizeEtag);
      } catch (err) {
        body.destroy();
        throw err;
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

  async listMultipart(prefix: string): Promise<UploadInfo[]> {
    const out: UploadInfo[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      for (;;) {
        const r = await this.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}) }),
          { abortSignal: this.signal() },
        );
        for (const u of r.Uploads ?? []) {
          if (u.Key !== undefined && u.UploadId !== undefined) out.push({ key: u.Key, uploadId: u.UploadId, initiatedMs: u.Initiated?.getTime() ?? 0 });
        }
        // a server that says "truncated" without moving on would loop forever
        if (!r.IsTruncated || r.NextKeyMarker === undefined || (r.NextKeyMarker === keyMarker && r.NextUploadIdMarker === uploadIdMarker)) return out;
        keyMarker = r.NextKeyMarker;
        uploadIdMarker = r.NextUploadIdMarker;
      }
    } catch (err) {
      throw classifyError(err, 'ListMultipartUploads', prefix);
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
      if (r.CopyObjectResult?.ETag === undefined) throw invalidResponse('CopyObject', 'no CopyObjectResult', toKey);
      return { etag: normalizeEtag(r.CopyObjectResult.ETag) };
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
      if (r.CopyPartResult?.ETag === undefined) throw invalidResponse('UploadPartCopy', 'no CopyPartResult', toKey);
      return { partNumber, etag: normalizeEtag(r.CopyPartResult.ETag) };
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

/** The body as it streams; fails unless it is exactly `expect` bytes. */
async function* wrapBody(body: Readable, key: string, expect: number): AsyncIterable<Uint8Array> {
  let got = 0;
  try {
    for await (const chunk of body) {
      got += (chunk as Uint8Array).length;
      if (got > expect) throw invalidResponse('GetObject', `more than the ${expect} bytes asked`, key);
      yield chunk as Uint8Array;
    }
  } catch (err) {
    throw classifyError(err, 'GetObject', key);
  } finally {
    body.destroy();
  }
  if (got !== expect) throw invalidResponse('GetObject', `a body of ${got} bytes for ${expect} asked`, key);
}

function rangeExpectation(req: RangeRequest): RangeExpectation {
  return { key: req.key, start: req.start, end: req.end, ...(req.etag ? { etag: req.etag } : {}) };
}

/** The parts of the SDK's signed HttpRequest that DirectHttp needs. */
interface SignedRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
}

/** The SDK's encoding of query strings (@smithy/querystring-builder), which it signed. */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function directRequest(r: SignedRequest): DirectRequest {
  const parts: string[] = [];
  for (const key of Object.keys(r.query ?? {}).sort()) {
    const value = (r.query ?? {})[key];
    if (Array.isArray(value)) for (const v of value) parts.push(`${escapeUri(key)}=${escapeUri(v)}`);
    else parts.push(value === null || value === undefined ? escapeUri(key) : `${escapeUri(key)}=${escapeUri(value)}`);
  }
  return {
    method: r.method,
    host: r.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: r.port ?? 80,
    target: r.path + (parts.length > 0 ? `?${parts.join('&')}` : ''),
    headers: r.headers,
  };
}

/** The page in the SDK's own ListObjectsV2 output. */
export function pageFromSdk(r: ListObjectsV2CommandOutput): ListPage {
  const objects: ObjectInfo[] = (r.Contents ?? []).flatMap((o) =>
    o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, etag: normalizeEtag(o.ETag), lastModifiedMs: o.LastModified?.getTime() ?? 0 }],
  );
  const prefixes = (r.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix]));
  const page: ListPage = { objects, prefixes };
  if (r.IsTruncated && r.NextContinuationToken) page.nextToken = r.NextContinuationToken;
  return page;
}

/** A whole response body. */
async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array | string));
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** Copies a response body into `dest`. */
function pump(body: Readable, dest: BodyDest): Promise<void> {
  return new Promise((resolve, reject) => {
    body.on('data', (chunk: Uint8Array) => {
      try {
        copyInto(dest, chunk);
      } catch (err) {
        body.destroy(err as Error);
      }
    });
    finished(body, (err) => {
      body.destroy();
      if (err) reject(err);
      else resolve();
    });
  });
}
