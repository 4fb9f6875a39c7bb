// ObjectHandles: open read handles on objects, by path, each pinned to one version. When
// the mount learns of another version (or that the object is gone), those handles go
// stale: every later read fails with ESTALE, never a mix of versions. A handle that finds
// its version gone before it handed out any byte moves to the current version instead.
import type { Node, MetadataCache } from '../meta/metadata.js';
import { fileKey } from '../meta/paths.js';
import type { BlockFetcher, ObjectVersion } from '../read/block-fetcher.js';
import type { FastReads } from '../read/fast-reads.js';
import { ObjectReader } from '../read/object-reader.js';
import { isStoreError } from '../s3/errors.js';
import { fsError } from './errno.js';

export type FileNode = Extract<Node, { kind: 'file' | 'symlink' }>;

/** An open read handle of an object (the 'object' case of the handle table). */
export interface ObjectHandle {
  kind: 'object';
  path: string;
  fh: number;
  reader: ObjectReader;
  /** the mount learnt of another version of the path, or that it is gone: every read fails */
  stale: boolean;
  /** JavaScript handed out bytes of its version */
  served: boolean;
}

export interface ObjectHandlesOptions {
  meta: MetadataCache;
  fetcher: BlockFetcher;
  /** reads FUSE threads answer from cached blocks; absent without the native fast path */
  fastReads?: FastReads;
  prefix: string;
  readAheadBytes: number;
  /** sets this filesystem's blocks apart in a block cache shared by several buckets */
  cacheScope?: string;
  /** told every open: the small-file look-ahead (small-files.ts) */
  smallFiles?: { opened(path: string): void };
}

export function versionOf(key: string, n: FileNode, scope = ''): ObjectVersion {
  // no ETag (some servers): size and mtime stand for the version; `scope` sets a bucket's
  // blocks apart in a cache shared by several buckets (whole-account mounts)
  return {
    key,
    size: n.size,
    etag: n.etag,
    version: scope + (n.etag !== '' ? n.etag : `${n.size}@${n.mtimeMs}`),
  };
}

/**
 * Whether `n` may be the version a handle reads. A node without an ETag is no news of a
 * version: a file being written here (S3 still has what the handle reads), or a server
 * that sends no ETags.
 */
function sameVersion(v: ObjectVersion, n: Node | undefined): boolean {
  if (n === undefined || n.kind === 'dir') return false;
  return n.etag === '' || v.etag === '' || v.etag === n.etag;
}

export class ObjectHandles {
  private readonly byPath = new Map<string, Set<ObjectHandle>>();

  constructor(private readonly o: ObjectHandlesOptions) {}

  /** A handle reading `node`'s version of `path`; `add` numbers it (the handle table). */
  open(path: string, node: FileNode, add: (h: ObjectHandle) => number): number {
    const reader = this.reader(path, node);
    const h: ObjectHandle = { kind: 'object', path, fh: 0, reader, stale: false, served: false };
    h.fh = add(h);
    if (this.o.fastReads) reader.attachFast(this.o.fastReads, h.fh);
    let set = this.byPath.get(path);
    if (!set) this.byPath.set(path, (set = new Set()));
    set.add(h);
    this.o.smallFiles?.opened(path);
    return h.fh;
  }

  private reader(path: string, node: FileNode): ObjectReader {
    return new ObjectReader(
      versionOf(fileKey(this.o.prefix, path), node, this.o.cacheScope),
      this.o.fetcher,
      this.o.readAheadBytes,
    );
  }

  /** The metadata cache learnt what `path` is now (undefined: nothing): other versions' handles go stale. */
  onNode(path: string, node: Node | undefined): void {
    const set = this.byPath.get(path);
    if (!set) return;
    for (const h of set) if (!h.stale && !sameVersion(h.reader.object, node)) this.markStale(h);
  }

  /** Reads stop here: FUSE threads no longer serve its cached blocks either. */
  private markStale(h: ObjectHandle): void {
    h.stale = true;
    h.reader.close();
  }

  async read(h: ObjectHandle, dest: Buffer, offset: number, length: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      if (h.stale)
        throw fsError('ESTALE', 'the object was replaced or deleted since it was opened', { path: h.path });
      try {
        const n = await h.reader.read(dest, offset, length);
        if (n > 0) h.served = true;
        return n;
      } catch (err) {
        if (!isStoreError(err, 'PreconditionFailed') && !isStoreError(err, 'NotFound')) throw err;
        await this.versionGone(h, attempt, err);
      }
    }
  }

  /**
   * The version `h` reads is no longer in S3. A handle that has handed out bytes of it
   * (or may have, through FUSE threads) is stale. One that has not moves to the current
   * version, unless that is longer: the kernel may still hold the size seen at open (its
   * attribute cache) and would cut the new bytes at it.
   */
  private async versionGone(h: ObjectHandle, attempt: number, err: unknown): Promise<void> {
    this.o.meta.invalidate(h.path); // a new open looks it up again
    const servedNatively = this.o.fastReads !== undefined && this.o.fetcher.hasAnyBlock(h.reader.object);
    if (attempt > 0 || h.served || servedNatively) {
      this.markStale(h);
      throw fsError('ESTALE', 'the object was replaced or deleted since it was read', { path: h.path }, err);
    }
    const now = await this.o.meta.lookup(h.path); // asks S3: tells onNode, which marks h stale
    if (now === undefined) throw fsError('ENOENT', 'the object was deleted', { path: h.path }, err);
    if (now.kind === 'dir' || now.size > h.reader.object.size) {
      this.markStale(h);
      throw fsError(
        'ESTALE',
        'the object was replaced by a longer one since it was opened',
        { path: h.path },
        err,
      );
    }
    h.reader.close();
    h.reader = this.reader(h.path, now);
    h.stale = false;
    if (this.o.fastReads) h.reader.attachFast(this.o.fastReads, h.fh);
  }

  close(h: ObjectHandle): void {
    const set = this.byPath.get(h.path);
    set?.delete(h);
    if (set?.size === 0) this.byPath.delete(h.path);
    h.reader.close();
  }
}
