// S3FileSystem: the POSIX operations of the mount, FUSE-free. Wires metadata (meta/),
// reads (read/) and the handle table; every failure leaves as an FsError or StoreError.
import { constants } from 'node:fs';
import type { Logger } from '../log/logger.js';
import type { MetadataCache, Node } from '../meta/metadata.js';
import { fileKey } from '../meta/paths.js';
import type { BlockFetcher } from '../read/block-fetcher.js';
import { ObjectReader } from '../read/object-reader.js';
import { isStoreError } from '../s3/errors.js';
import { fsError } from './errno.js';
import { HandleTable, type Handle } from './handles.js';

export interface Attr {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  atimeMs: number;
  ctimeMs: number;
  blocks: number;
  blksize: number;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export interface FileSystemOptions {
  meta: MetadataCache;
  fetcher: BlockFetcher;
  prefix: string;
  logger: Logger;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  readOnly: boolean;
  readAheadBytes: number;
  /** directories have no timestamp in S3: they show the mount time */
  mountTimeMs: number;
}

/** statfs numbers: S3 has no capacity, so report "very large" in 32-bit fields (fuse-native). */
const STATFS_BLOCK_BYTES = 4096;
const STATFS_LARGE = 0xffffffff;
const DIR_SIZE = 4096;
/** POSIX access-mode mask (not exported by node:fs constants) */
const O_ACCMODE = 3;

export class S3FileSystem {
  private readonly handles = new HandleTable<Handle>();

  constructor(private readonly o: FileSystemOptions) {}

  private async node(path: string): Promise<Node> {
    const n = await this.o.meta.lookup(path);
    if (!n) throw fsError('ENOENT', 'no such file or directory', { path });
    return n;
  }

  private attr(n: Node): Attr {
    const base = { uid: this.o.uid, gid: this.o.gid, blksize: this.o.fetcher.blockBytes };
    if (n.kind === 'dir') {
      const t = this.o.mountTimeMs;
      return { ...base, mode: constants.S_IFDIR | this.o.dirMode, size: DIR_SIZE, nlink: 2, mtimeMs: t, atimeMs: t, ctimeMs: t, blocks: 8 };
    }
    return {
      ...base,
      mode: constants.S_IFREG | this.o.fileMode,
      size: n.size,
      nlink: 1,
      mtimeMs: n.mtimeMs,
      atimeMs: n.mtimeMs,
      ctimeMs: n.mtimeMs,
      blocks: Math.ceil(n.size / 512),
    };
  }

  async getattr(path: string): Promise<Attr> {
    return this.attr(await this.node(path));
  }

  async readdir(path: string): Promise<string[]> {
    const n = await this.node(path);
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'not a directory', { path });
    const entries = await this.o.meta.list(path);
    return ['.', '..', ...entries.keys()];
  }

  async open(path: string, flags: number): Promise<number> {
    const access = flags & O_ACCMODE;
    if (access !== constants.O_RDONLY || flags & constants.O_TRUNC) {
      throw fsError('EROFS', this.o.readOnly ? 'mounted read-only' : 'writing is not supported yet', { path });
    }
    const n = await this.node(path);
    if (n.kind === 'dir') throw fsError('EISDIR', 'is a directory', { path });
    const key = fileKey(this.o.prefix, path);
    const version = n.etag !== '' ? n.etag : `${n.size}@${n.mtimeMs}`;
    const reader = new ObjectReader({ key, size: n.size, etag: n.etag, version }, this.o.fetcher, this.o.readAheadBytes);
    return this.handles.add({ kind: 'read', path, reader });
  }

  async read(fh: number, dest: Buffer, length: number, offset: number): Promise<number> {
    const h = this.handles.get(fh);
    switch (h.kind) {
      case 'read':
        try {
          return await h.reader.read(dest, offset, length);
        } catch (err) {
          // the object changed since open: forget it so that a new open sees the new version
          if (isStoreError(err, 'PreconditionFailed') || isStoreError(err, 'NotFound')) this.o.meta.invalidate(h.path);
          throw err;
        }
      default:
        return exhaustive(h.kind);
    }
  }

  async release(fh: number): Promise<void> {
    this.handles.remove(fh);
  }

  async statfs(): Promise<StatFs> {
    return {
      bsize: STATFS_BLOCK_BYTES,
      frsize: STATFS_BLOCK_BYTES,
      blocks: STATFS_LARGE,
      bfree: STATFS_LARGE,
      bavail: STATFS_LARGE,
      files: STATFS_LARGE,
      ffree: STATFS_LARGE,
      favail: STATFS_LARGE,
      namemax: 255,
    };
  }

  get openHandles(): number {
    return this.handles.size;
  }
}

function exhaustive(x: never): never {
  throw new Error(`unhandled case ${String(x)}`);
}
