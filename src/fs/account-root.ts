// AccountRoot: the root of a whole-account mount. Its entries are the buckets (BucketList);
// "/BUCKET/rest" goes to that bucket's S3FileSystem as "/rest", set up on first use.
import type { Logger } from '../log/logger.js';
import { S_IFDIR } from '../meta/attrs.js';
import { fileKey } from '../meta/paths.js';
import type { AccountStore } from '../s3/account-store.js';
import { invalidBucketName } from '../s3/bucket-names.js';
import type { Clock } from '../util/clock.js';
import type { BucketList } from './bucket-list.js';
import { fsError } from './errno.js';
import type { Attr, DirEntry, Owner, S3FileSystem } from './filesystem.js';
import type { MountedFileSystem } from './mounted.js';
import type { StatFs, StatfsCache } from './statfs.js';

/** A mount path split at its first component: the bucket, and the path inside it ("/" for the bucket itself). */
export interface AccountPath {
  bucket: string;
  path: string;
}

/** "/b/x/y" → { bucket: "b", path: "/x/y" }; "/b" → { bucket: "b", path: "/" }; "/" → undefined. */
export function splitAccountPath(mountPath: string): AccountPath | undefined {
  const rel = mountPath.replace(/^\/+/, '');
  if (rel === '') return undefined;
  const slash = rel.indexOf('/');
  if (slash < 0) return { bucket: rel, path: '/' };
  const rest = rel.slice(slash).replace(/\/+$/, '');
  return { bucket: rel.slice(0, slash), path: rest === '' ? '/' : rest };
}

/**
 * The object a path of a whole-account mount names (for `s3mount share`): the bucket and
 * the key; undefined for the root and for a bucket itself.
 */
export function accountObjectOf(mountPath: string): { bucket: string; key: string } | undefined {
  const p = splitAccountPath(mountPath);
  if (!p || p.path === '/') return undefined;
  return { bucket: p.bucket, key: fileKey('', p.path) };
}

/** One bucket's filesystem, as set up for the mount. */
export interface BucketMount {
  fs: S3FileSystem;
  /** files written into it and not yet in S3 */
  pendingFiles(): number;
}

/** The per-bucket filesystems: set up on first use, dropped when the bucket is deleted. */
export interface BucketMounts {
  /** already set up */
  peek(name: string): BucketMount | undefined;
  /** set up now if need be (its staged files from an earlier run are uploaded then) */
  open(name: string): Promise<BucketMount>;
  /** the bucket was deleted: stop its filesystem */
  close(name: string): Promise<void>;
}

export interface AccountRootOptions {
  buckets: BucketList;
  account: Pick<AccountStore, 'createBucket' | 'deleteBucket'>;
  mounts: BucketMounts;
  /** df: the sum over the buckets */
  statfs: StatfsCache;
  clock: Clock;
  logger: Logger;
  uid: number;
  gid: number;
  dirMode: number;
  readOnly: boolean;
  blockBytes: number;
  /** the root's timestamps (and a bucket's whose creation date is not known) */
  mountTimeMs: number;
}

const DIR_SIZE = 4096;
const ROOT_ONLY_BUCKETS = 'only buckets (directories) can be at the root of a whole-account mount';

export class AccountRoot implements MountedFileSystem {
  /** which bucket's filesystem gave out each open handle (handle numbers are shared: core.ts SharedParts) */
  private readonly owners = new Map<number, S3FileSystem>();

  constructor(private readonly o: AccountRootOptions) {}

  private dirAttr(mtimeMs: number): Attr {
    return {
      mode: S_IFDIR | this.o.dirMode,
      size: DIR_SIZE,
      nlink: 2,
      rdev: 0,
      uid: this.o.uid,
      gid: this.o.gid,
      mtimeMs,
      atimeMs: mtimeMs,
      ctimeMs: mtimeMs,
      blocks: 8,
      blksize: this.o.blockBytes,
    };
  }

  private writable(path: string): void {
    if (this.o.readOnly) throw fsError('EROFS', 'mounted read-only', { path });
  }

  /** The filesystem of the path's bucket and the path in it; ENOENT if there is no such bucket. */
  private async route(p: AccountPath, mountPath: string): Promise<{ fs: S3FileSystem; path: string }> {
    const ready = this.o.mounts.peek(p.bucket);
    if (ready) return { fs: ready.fs, path: p.path };
    if (!(await this.o.buckets.find(p.bucket)))
      throw fsError('ENOENT', 'no such bucket', { path: mountPath, bucket: p.bucket });
    return { fs: (await this.o.mounts.open(p.bucket)).fs, path: p.path };
  }

  /** The path inside a bucket, or undefined for the root and the buckets themselves. */
  private async inside(mountPath: string): Promise<{ fs: S3FileSystem; path: string } | undefined> {
    const p = splitAccountPath(mountPath);
    if (!p || p.path === '/') return undefined;
    return this.route(p, mountPath);
  }

  bypassesPageCache(fh: number): boolean {
    return this.owners.get(fh)?.bypassesPageCache(fh) ?? false;
  }

  private owner(fh: number): S3FileSystem {
    const fs = this.owners.get(fh);
    if (!fs) throw fsError('EBADF', 'no such open file handle', { fh });
    return fs;
  }

  /** Throws ENOENT unless the path is the root or an existing bucket. */
  private async rootLevelAttr(mountPath: string): Promise<Attr> {
    const p = splitAccountPath(mountPath);
    if (!p) return this.dirAttr(this.o.mountTimeMs);
    const b = await this.o.buckets.find(p.bucket);
    if (!b) throw fsError('ENOENT', 'no such bucket', { path: mountPath });
    return this.dirAttr(b.createdMs || this.o.mountTimeMs);
  }

  async getattr(path: string): Promise<Attr> {
    const r = await this.inside(path);
    return r ? r.fs.getattr(r.path) : this.rootLevelAttr(path);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const all: DirEntry[] = [];
    await this.readdirStream(path, (entries) => all.push(...entries));
    return all;
  }

  async readdirStream(path: string, onEntries: (entries: DirEntry[]) => void): Promise<void> {
    const p = splitAccountPath(path);
    if (p) {
      const r = await this.route(p, path);
      return r.fs.readdirStream(r.path, onEntries);
    }
    const self = this.dirAttr(this.o.mountTimeMs);
    const buckets = await this.o.buckets.all();
    onEntries([
      { name: '.', attr: self },
      { name: '..', attr: self },
      ...buckets.map((b) => ({ name: b.name, attr: this.dirAttr(b.createdMs || this.o.mountTimeMs) })),
    ]);
  }

  async open(path: string, flags: number): Promise<number> {
    const r = await this.inside(path);
    if (!r) {
      await this.rootLevelAttr(path);
      throw fsError('EISDIR', 'is a directory', { path });
    }
    const fh = await r.fs.open(r.path, flags);
    this.owners.set(fh, r.fs);
    return fh;
  }

  async create(path: string, mode: number, caller?: Owner): Promise<number> {
    const r = await this.inside(path);
    if (!r) {
      this.writable(path);
      throw fsError('EPERM', `cannot create a file: ${ROOT_ONLY_BUCKETS}`, { path });
    }
    const fh = await r.fs.create(r.path, mode, caller);
    this.owners.set(fh, r.fs);
    return fh;
  }

  async mknod(path: string, mode: number, rdev: number, caller?: Owner): Promise<void> {
    const r = await this.inside(path);
    if (r) return r.fs.mknod(r.path, mode, rdev, caller);
    this.writable(path);
    throw fsError('EPERM', `cannot make a special file: ${ROOT_ONLY_BUCKETS}`, { path });
  }

  async read(fh: number, dest: Buffer, offset: number, length: number): Promise<number> {
    return this.owner(fh).read(fh, dest, offset, length);
  }

  async write(fh: number, buf: Buffer, offset: number, length: number): Promise<number> {
    return this.owner(fh).write(fh, buf, offset, length);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    return this.owner(fh).ftruncate(fh, size);
  }

  async flush(fh: number): Promise<void> {
    return this.owner(fh).flush(fh);
  }

  async fsync(fh: number): Promise<void> {
    return this.owner(fh).fsync(fh);
  }

  async release(fh: number): Promise<void> {
    const fs = this.owners.get(fh);
    this.owners.delete(fh);
    await fs?.release(fh);
  }

  async truncate(path: string, size: number): Promise<void> {
    const r = await this.inside(path);
    if (!r) {
      await this.rootLevelAttr(path);
      throw fsError('EISDIR', 'is a directory', { path });
    }
    return r.fs.truncate(r.path, size);
  }

  async unlink(path: string): Promise<void> {
    const r = await this.inside(path);
    if (!r) {
      await this.rootLevelAttr(path);
      throw fsError('EISDIR', 'is a directory (a bucket is removed with rmdir)', { path });
    }
    return r.fs.unlink(r.path);
  }

  /** At the root: CreateBucket. */
  async mkdir(path: string, mode: number, caller?: Owner): Promise<void> {
    const r = await this.inside(path);
    if (r) return r.fs.mkdir(r.path, mode, caller);
    const p = splitAccountPath(path);
    if (!p) throw fsError('EEXIST', 'the root exists', { path });
    this.writable(path);
    const why = invalidBucketName(p.bucket);
    if (why !== undefined) throw fsError('EINVAL', `"${p.bucket}" cannot be a bucket name: ${why}`, { path });
    if (await this.o.buckets.find(p.bucket)) throw fsError('EEXIST', 'the bucket exists', { path });
    await this.o.account.createBucket(p.bucket);
    this.o.buckets.added(p.bucket, this.o.clock.nowMs());
    this.o.logger.info('bucket created', { bucket: p.bucket });
  }

  /** At the root: DeleteBucket, of an empty bucket with nothing left to upload into it. */
  async rmdir(path: string): Promise<void> {
    const r = await this.inside(path);
    if (r) return r.fs.rmdir(r.path);
    const p = splitAccountPath(path);
    if (!p) throw fsError('EBUSY', 'the root of the mount', { path });
    this.writable(path);
    if (!(await this.o.buckets.find(p.bucket))) throw fsError('ENOENT', 'no such bucket', { path });
    const pending = this.o.mounts.peek(p.bucket)?.pendingFiles() ?? 0;
    if (pending > 0)
      throw fsError('ENOTEMPTY', `the bucket has ${pending} file(s) written and not yet uploaded`, { path });
    await this.o.account.deleteBucket(p.bucket);
    this.o.buckets.removed(p.bucket);
    await this.o.mounts.close(p.bucket);
    this.o.logger.info('bucket deleted', { bucket: p.bucket });
  }

  async rename(from: string, to: string): Promise<void> {
    const a = splitAccountPath(from);
    const b = splitAccountPath(to);
    if (!a || !b || a.path === '/' || b.path === '/')
      throw fsError(
        'EXDEV',
        b && b.path === '/' && a && a.path !== '/'
          ? `cannot move into the root: ${ROOT_ONLY_BUCKETS}`
          : 'a bucket cannot be renamed (S3 has no bucket rename)',
        { path: from, to },
      );
    if (a.bucket !== b.bucket)
      throw fsError('EXDEV', 'cannot rename across buckets (mv copies and deletes instead)', {
        path: from,
        to,
      });
    const r = await this.route(a, from);
    return r.fs.rename(a.path, b.path);
  }

  async symlink(target: string, path: string, caller?: Owner): Promise<void> {
    const r = await this.inside(path);
    if (!r) {
      this.writable(path);
      throw fsError('EPERM', `cannot make a symbolic link: ${ROOT_ONLY_BUCKETS}`, { path });
    }
    return r.fs.symlink(target, r.path, caller);
  }

  async readlink(path: string): Promise<string> {
    const r = await this.inside(path);
    if (!r) {
      await this.rootLevelAttr(path);
      throw fsError('EINVAL', 'not a symbolic link', { path });
    }
    return r.fs.readlink(r.path);
  }

  /** The root and the buckets have fixed attributes. */
  private async fixed(path: string): Promise<void> {
    await this.rootLevelAttr(path);
    this.writable(path);
    throw fsError('EPERM', 'the root and the buckets of a whole-account mount have fixed attributes', {
      path,
    });
  }

  async chmod(path: string, mode: number): Promise<void> {
    const r = await this.inside(path);
    return r ? r.fs.chmod(r.path, mode) : this.fixed(path);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const r = await this.inside(path);
    return r ? r.fs.chown(r.path, uid, gid) : this.fixed(path);
  }

  async utimens(path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    const r = await this.inside(path);
    return r ? r.fs.utimens(r.path, atimeMs, mtimeMs) : this.fixed(path);
  }

  /** df: the sum over the buckets (statfs.ts), whatever the path. */
  async statfs(): Promise<StatFs> {
    return this.o.statfs.get();
  }
}
