// MemoryObjectStore: an in-memory ObjectStore for unit tests of meta/ and read/
// (never for integration tests: those use a real server). Counts calls per operation.
import { createHash } from 'node:crypto';
import { copyInto, type BodyDest } from './direct-http.js';
import { StoreError } from './errors.js';
import type { CompletedPart, ListPage, ListParams, ObjectInfo, ObjectStore, PutParams, RangeRequest, UploadInfo } from './store.js';

interface Stored { data: Buffer; etag: string; lastModifiedMs: number; metadata: Record<string, string> }

export class MemoryObjectStore implements ObjectStore {
  readonly bucket = 'memory';
  readonly objects = new Map<string, Stored>();
  readonly calls: Record<string, number> = {};
  /** called before every getRange; a test can make reads slow or fail */
  beforeGet: (req: RangeRequest) => Promise<void> = async () => undefined;
  /** answer CompleteMultipartUpload with an empty ETag, as Ceph RGW does */
  emptyCompleteEtag = false;

  private count(op: string): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
  }

  putBytes(key: string, data: Buffer | string, metadata: Record<string, string> = {}): string {
    const buf = Buffer.from(data);
    const etag = createHash('md5').update(buf).digest('hex');
    this.objects.set(key, { data: buf, etag, lastModifiedMs: Date.now(), metadata: { ...metadata } }); // a copy, as a server keeps
    return etag;
  }

  async checkBucket(): Promise<void> {
    this.count('checkBucket');
  }

  async head(key: string): Promise<ObjectInfo> {
    this.count('head');
    const o = this.objects.get(key);
    if (!o) throw new StoreError('NotFound', 'no such key', { key, op: 'HeadObject' });
    return { key, size: o.data.length, etag: o.etag, lastModifiedMs: o.lastModifiedMs, metadata: { ...o.metadata } };
  }

  async list(p: ListParams): Promise<ListPage> {
    this.count('list');
    const max = p.maxKeys ?? 1000;
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(p.prefix)).sort();
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    let after = p.continuationToken ?? '';
    let n = 0;
    for (const k of keys) {
      if (k <= after) continue;
      if (n >= max) return { objects, prefixes, nextToken: after };
      const rest = k.slice(p.prefix.length);
      const i = p.delimiter ? rest.indexOf(p.delimiter) : -1;
      if (i >= 0) {
        const cp = p.prefix + rest.slice(0, i + 1);
        if (!prefixes.includes(cp)) {
          prefixes.push(cp);
          n++;
        }
        after = cp + '\uffff';
        continue;
      }
      const o = this.objects.get(k) as Stored;
      objects.push({ key: k, size: o.data.length, etag: o.etag, lastModifiedMs: o.lastModifiedMs });
      n++;
      after = k;
    }
    return { objects, prefixes };
  }

  async readInto(req: RangeRequest, dest: BodyDest): Promise<void> {
    for await (const chunk of await this.getRange(req)) copyInto(dest, chunk);
  }

  async getRange(req: RangeRequest): Promise<AsyncIterable<Uint8Array>> {
    this.count('getRange');
    await this.beforeGet(req);
    const o = this.objects.get(req.key);
    if (!o) throw new StoreError('NotFound', 'no such key', { key: req.key });
    if (req.etag && req.etag !== o.etag) throw new StoreError('PreconditionFailed', 'object changed', { key: req.key });
    const data = o.data.subarray(req.start, Math.min(req.end, o.data.length));
    return (async function* () {
      // in two pieces, to exercise block assembly across chunks
      const half = Math.floor(data.length / 2);
      yield data.subarray(0, half);
      yield data.subarray(half);
    })();
  }

  async put(p: PutParams): Promise<{ etag: string }> {
    this.count('put');
    if (!(p.body instanceof Uint8Array)) throw new StoreError('NotImplemented', 'memory store takes buffers only');
    return { etag: this.putBytes(p.key, Buffer.from(p.body), p.metadata) };
  }

  private readonly uploads = new Map<string, Map<number, Buffer>>();
  private readonly uploadInfo = new Map<string, UploadInfo>();
  /** the metadata given at CreateMultipartUpload, the completed object's */
  private readonly uploadMetadata = new Map<string, Record<string, string>>();
  private uploadsStarted = 0;

  /** Multipart uploads neither completed nor aborted. */
  get pendingUploads(): UploadInfo[] {
    return [...this.uploadInfo.values()];
  }

  async createMultipart(key: string, metadata: Record<string, string> = {}): Promise<string> {
    this.count('createMultipart');
    const id = `${key}#${++this.uploadsStarted}`;
    this.uploads.set(id, new Map());
    this.uploadMetadata.set(id, { ...metadata });
    this.uploadInfo.set(id, { key, uploadId: id, initiatedMs: Date.now() });
    return id;
  }

  async listMultipart(prefix: string): Promise<UploadInfo[]> {
    this.count('listMultipart');
    return this.pendingUploads.filter((u) => u.key.startsWith(prefix));
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array | NodeJS.ReadableStream): Promise<CompletedPart> {
    this.count('uploadPart');
    const u = this.uploads.get(uploadId);
    if (!u || !(body instanceof Uint8Array)) throw new StoreError('Other', 'bad upload', { key });
    u.set(partNumber, Buffer.from(body));
    return { partNumber, etag: createHash('md5').update(body).digest('hex') };
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }> {
    this.count('completeMultipart');
    const u = this.uploads.get(uploadId);
    if (!u) throw new StoreError('NotFound', 'no such upload', { key });
    const data = Buffer.concat(parts.map((p) => u.get(p.partNumber) ?? Buffer.alloc(0)));
    const metadata = this.uploadMetadata.get(uploadId);
    this.forgetUpload(uploadId);
    const etag = this.putBytes(key, data, metadata);
    return { etag: this.emptyCompleteEtag ? '' : etag };
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    this.count('abortMultipart');
    if (!this.uploads.has(uploadId)) throw new StoreError('NotFound', 'no such upload', { key, op: 'AbortMultipartUpload' });
    this.forgetUpload(uploadId);
  }

  private forgetUpload(uploadId: string): void {
    this.uploads.delete(uploadId);
    this.uploadInfo.delete(uploadId);
    this.uploadMetadata.delete(uploadId);
  }

  async copy(fromKey: string, toKey: string, metadata?: Record<string, string>): Promise<{ etag: string }> {
    this.count('copy');
    const o = this.objects.get(fromKey);
    if (!o) throw new StoreError('NotFound', 'no such key', { key: fromKey });
    return { etag: this.putBytes(toKey, o.data, metadata ?? o.metadata) };
  }

  async uploadPartCopy(fromKey: string, _toKey: string, uploadId: string, partNumber: number, start: number, end: number): Promise<CompletedPart> {
    this.count('uploadPartCopy');
    const o = this.objects.get(fromKey);
    const u = this.uploads.get(uploadId);
    if (!o || !u) throw new StoreError('NotFound', 'no such key or upload', { key: fromKey });
    const part = o.data.subarray(start, end);
    u.set(partNumber, Buffer.from(part));
    return { partNumber, etag: createHash('md5').update(part).digest('hex') };
  }

  async delete(key: string): Promise<void> {
    this.count('delete');
    this.objects.delete(key);
  }
}
