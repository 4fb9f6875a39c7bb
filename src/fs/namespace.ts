// Namespace changes on S3 keys: mkdir/rmdir via "dir/" markers, unlink, rename (copy +
// delete; directories key by key, not atomic), symlinks and attribute changes stored as
// s3fs-compatible object metadata.
import type { Logger } from '../log/logger.js';
import { metadataFromAttrs, type FileAttrs } from '../meta/attrs.js';
import type { MetadataCache, Node } from '../meta/metadata.js';
import { dirPrefix, fileKey, KEY_MAX_BYTES, parentPath } from '../meta/paths.js';
import { isStoreError } from '../s3/errors.js';
import type { ObjectStore } from '../s3/store.js';
import type { Semaphore } from '../util/semaphore.js';
import { copyObject, type CopyOptions } from '../write/copier.js';
import { fsError } from './errno.js';

export interface NamespaceOptions {
  store: ObjectStore;
  meta: MetadataCache;
  prefix: string;
  requests: Semaphore;
  copy: CopyOptions;
  logger: Logger;
}

type FileNode = Extract<Node, { kind: 'file' | 'symlink' }>;

export class Namespace {
  constructor(private readonly o: NamespaceOptions) {}

  private key(path: string): string {
    return fileKey(this.o.prefix, path);
  }

  async requireParentDir(path: string): Promise<void> {
    const parent = parentPath(path);
    const n = await this.o.meta.lookup(parent);
    if (!n) throw fsError('ENOENT', 'parent directory does not exist', { path });
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'parent is not a directory', { path });
  }

  private async requireAbsent(path: string): Promise<void> {
    if (await this.o.meta.lookup(path)) throw fsError('EEXIST', 'file exists', { path });
  }

  /** The object's user metadata, to keep when its content or attributes change. */
  async currentMetadata(path: string): Promise<Record<string, string>> {
    try {
      return (await this.o.store.head(this.key(path))).metadata ?? {};
    } catch (err) {
      if (isStoreError(err, 'NotFound')) return {};
      throw err;
    }
  }

  async removeObject(path: string): Promise<void> {
    await this.o.requests.run(() => this.o.store.delete(this.key(path)));
    this.o.meta.remove(path);
  }

  async mkdir(path: string, attrs: FileAttrs): Promise<void> {
    await this.requireParentDir(path);
    await this.requireAbsent(path);
    const md = metadataFromAttrs({ ...attrs, mtimeMs: Date.now() });
    await this.o.requests.run(() =>
      this.o.store.put({
        key: dirPrefix(this.o.prefix, path),
        body: Buffer.alloc(0),
        contentLength: 0,
        metadata: md,
      }),
    );
    this.o.meta.putNewDir(path, { kind: 'dir', attrs: { ...attrs, mtimeMs: Date.now() } });
  }

  async rmdir(path: string): Promise<void> {
    const n = await this.o.meta.lookup(path);
    if (!n) throw fsError('ENOENT', 'no such directory', { path });
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'not a directory', { path });
    if (path === '/') throw fsError('EBUSY', 'cannot remove the mount root', { path });
    const marker = dirPrefix(this.o.prefix, path);
    const page = await this.o.store.list({ prefix: marker, maxKeys: 2 });
    if (page.objects.some((o) => o.key !== marker) || page.prefixes.length > 0)
      throw fsError('ENOTEMPTY', 'directory not empty', { path });
    await this.o.requests.run(() => this.o.store.delete(marker));
    this.o.meta.invalidateTree(path);
    this.o.meta.remove(path);
  }

  /** Renames a file or directory; for a file, the ETag it had and the one its copy has. */
  async rename(from: string, to: string): Promise<{ etagBefore: string; etagAfter: string } | undefined> {
    const src = await this.o.meta.lookup(from);
    if (!src) throw fsError('ENOENT', 'no such file or directory', { path: from });
    if (from === to) return undefined;
    await this.requireParentDir(to);
    const dst = await this.o.meta.lookup(to);
    if (src.kind === 'dir') return this.renameDir(from, to, dst);
    if (dst?.kind === 'dir') throw fsError('EISDIR', 'cannot replace a directory with a file', { path: to });
    const etag = await copyObject(this.o.copy, this.key(from), this.key(to), src.size);
    await this.o.requests.run(() => this.o.store.delete(this.key(from)));
    this.o.meta.remove(from);
    this.o.meta.put(to, { ...src, etag: etag || src.etag });
    return { etagBefore: src.etag, etagAfter: etag || src.etag };
  }

  /** Moves every key under from/ to to/: copies first, then deletes. Not atomic. */
  private async renameDir(from: string, to: string, dst: Node | undefined): Promise<undefined> {
    if (dst && dst.kind !== 'dir')
      throw fsError('ENOTDIR', 'cannot replace a file with a directory', { path: to });
    if (to.startsWith(`${from}/`))
      throw fsError('EINVAL', 'cannot move a directory into itself', { path: to });
    const fromPrefix = dirPrefix(this.o.prefix, from);
    const toPrefix = dirPrefix(this.o.prefix, to);
    if (dst) {
      const page = await this.o.store.list({ prefix: toPrefix, maxKeys: 2 });
      if (page.objects.some((o) => o.key !== toPrefix))
        throw fsError('ENOTEMPTY', 'target directory not empty', { path: to });
    }
    const objects: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await this.o.store.list({
        prefix: fromPrefix,
        ...(token !== undefined ? { continuationToken: token } : {}),
      });
      objects.push(...page.objects);
      token = page.nextToken;
    } while (token !== undefined);
    const tooLong = objects.find(
      (o) =>
        Buffer.byteLength(toPrefix) + Buffer.byteLength(o.key) - Buffer.byteLength(fromPrefix) >
        KEY_MAX_BYTES,
    );
    if (tooLong)
      throw fsError('ENAMETOOLONG', `a key below the new name would be longer than ${KEY_MAX_BYTES} bytes`, {
        path: to,
        key: tooLong.key,
      });
    // copies run in parallel (bounded by the request semaphore inside copyObject)
    await Promise.all(
      objects.map((o) => copyObject(this.o.copy, o.key, toPrefix + o.key.slice(fromPrefix.length), o.size)),
    );
    await Promise.all(objects.map((o) => this.o.requests.run(() => this.o.store.delete(o.key))));
    this.o.logger.info('renamed directory', { from, to, keys: objects.length });
    this.o.meta.invalidateTree(from);
    this.o.meta.invalidateTree(to);
    this.o.meta.remove(from);
    this.o.meta.put(to, { kind: 'dir' });
    return undefined;
  }

  async symlink(target: string, path: string, attrs: FileAttrs): Promise<void> {
    await this.requireParentDir(path);
    await this.requireAbsent(path);
    const body = Buffer.from(target);
    const now = Date.now();
    const md = metadataFromAttrs({ ...attrs, mtimeMs: now });
    const { etag } = await this.o.requests.run(() =>
      this.o.store.put({ key: this.key(path), body, contentLength: body.length, metadata: md }),
    );
    this.o.meta.put(path, {
      kind: 'symlink',
      size: body.length,
      mtimeMs: now,
      etag,
      attrs: { ...attrs, mtimeMs: now },
      metadata: md,
    });
  }

  /** A FIFO, socket or device node: an empty object whose metadata holds its mode (and rdev), as s3fs. */
  async mknod(path: string, attrs: FileAttrs): Promise<void> {
    await this.requireParentDir(path);
    await this.requireAbsent(path);
    const now = Date.now();
    const md = metadataFromAttrs({ ...attrs, mtimeMs: now });
    const { etag } = await this.o.requests.run(() =>
      this.o.store.put({ key: this.key(path), body: Buffer.alloc(0), contentLength: 0, metadata: md }),
    );
    this.o.meta.put(path, {
      kind: 'file',
      size: 0,
      mtimeMs: now,
      etag,
      attrs: { ...attrs, mtimeMs: now },
      metadata: md,
    });
  }

  async readlink(path: string, n: FileNode): Promise<string> {
    if (n.size === 0) return '';
    const body = await this.o.store.getRange({ key: this.key(path), start: 0, end: n.size });
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks).toString();
  }

  /** chmod/chown/utimens of an object not open here: rewrite its metadata in place. */
  async setAttrs(path: string, n: Node, change: FileAttrs): Promise<void> {
    const known = n.attrs;
    const same =
      known !== undefined &&
      (Object.keys(change) as Array<keyof FileAttrs>).every((k) => known[k] === change[k]);
    if (same) return; // nothing to change (cp -p and rsync often set what is already there)
    if (path === '/') {
      // no object stands for the mount root: what is set on it lives as long as the mount
      this.o.meta.put(path, { kind: 'dir', attrs: { ...(n.attrs ?? {}), ...change } });
      return;
    }
    if (n.kind === 'dir') {
      const marker = dirPrefix(this.o.prefix, path);
      let md: Record<string, string> = {};
      try {
        md = (await this.o.store.head(marker)).metadata ?? {};
      } catch (err) {
        if (!isStoreError(err, 'NotFound')) throw err; // an implicit directory gets a marker now
      }
      const attrs = { ...(n.attrs ?? {}), ...change };
      await this.o.requests.run(() =>
        this.o.store.put({
          key: marker,
          body: Buffer.alloc(0),
          contentLength: 0,
          metadata: { ...md, ...metadataFromAttrs(attrs) },
        }),
      );
      this.o.meta.put(path, { kind: 'dir', attrs });
      return;
    }
    const key = this.key(path);
    // the metadata to keep: known from this mount's own write or an earlier HEAD, else ask
    const current =
      n.metadata !== undefined && n.attrs !== undefined
        ? { size: n.size, metadata: n.metadata, etag: n.etag }
        : await this.o.store.head(key);
    const attrs = { ...(n.attrs ?? {}), ...change };
    const metadata = { ...(current.metadata ?? {}), ...metadataFromAttrs(attrs) };
    const etag = await copyObject(this.o.copy, key, key, current.size, metadata);
    this.o.meta.put(path, { ...n, size: current.size, etag: etag || current.etag, attrs, metadata });
  }
}
