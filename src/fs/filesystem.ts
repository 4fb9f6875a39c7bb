// S3FileSystem: the POSIX operations of the mount, FUSE-free. Wires metadata (meta/),
// reads (read/), staged writes (open-files.ts) and namespace changes (namespace.ts).
import { constants } from 'node:fs';
import type { Logger } from '../log/logger.js';
import { S_IFDIR, S_IFLNK, S_IFREG, type FileAttrs } from '../meta/attrs.js';
import type { MetadataCache, Node } from '../meta/metadata.js';
import { KEY_MAX_BYTES, NAME_MAX_BYTES, pathTooLong } from '../meta/paths.js';
import type { BlockFetcher } from '../read/block-fetcher.js';
import type { FastReads } from '../read/fast-reads.js';
import { isStoreError } from '../s3/errors.js';
import type { SleepClock } from '../util/clock.js';
import type { NativeWrites } from '../write/native-writes.js';
import { attrOf, type Attr, type AttrDefaults, type DirEntry } from './attr.js';
import { modeChange, ownerChange, specialNodeAttrs } from './attr-changes.js';
import { streamDirEntries } from './dir-entries.js';
import { fsError } from './errno.js';
import { HandleTable, type Handle } from './handles.js';
import { isHiddenName } from './hidden-files.js';
import type { Namespace } from './namespace.js';
import { ObjectHandles } from './object-handles.js';
import { opensForWriting } from './open-flags.js';
import { synced, type OpenFile, type Owner } from './open-file.js';
import type { OpenFiles } from './open-files.js';
import { Renames } from './renames.js';
import { LARGE_STATFS, type StatFs, type StatfsCache } from './statfs.js';

export type { Attr, DirEntry, Owner, StatFs };

export interface FileSystemOptions {
  meta: MetadataCache;
  fetcher: BlockFetcher;
  /** reads FUSE threads answer from cached blocks; absent without the native fast path */
  fastReads?: FastReads;
  /** FUSE threads do the writes of handles open for writing */
  nativeWrites?: NativeWrites;
  openFiles: OpenFiles;
  namespace: Namespace;
  prefix: string;
  logger: Logger;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  readOnly: boolean;
  /** HEAD files known only from listings, to show mode/owner/mtime from object metadata */
  objectMetadata: boolean;
  /** new files, directories and nodes belong to the process that makes them (--allow-other), not the mount's uid/gid */
  callerOwns?: boolean;
  readAheadBytes: number;
  /** directories have no timestamp in S3: they show the mount time */
  mountTimeMs: number;
  /** df's numbers; absent: "very large" */
  statfs?: StatfsCache;
  /** the handle table, when several filesystems share the FUSE handle numbers (a whole-account mount) */
  handles?: HandleTable<Handle>;
  /** set apart this filesystem's blocks in a block cache other filesystems share (the bucket name) */
  cacheScope?: string;
  /** default: the system's */
  clock?: SleepClock;
  /** the mount learnt that a path's size changed: drop attributes cached on the FUSE threads */
  onSizeChange?: () => void;
  /** every open of an object bypasses the kernel's page cache (--direct-io) */
  directIo?: boolean;
  /** the small-file look-ahead, told every open for reading */
  smallFiles?: { opened(path: string): void };
}

export class S3FileSystem {
  private readonly handles: HandleTable<Handle>;
  private readonly objects: ObjectHandles;
  private readonly renames: Renames;
  private readonly defaults: AttrDefaults;
  /** bytes read and written through JavaScript (the native fast paths count their own) */
  readonly counters = { readBytes: 0, writtenBytes: 0 };

  constructor(private readonly o: FileSystemOptions) {
    this.handles = o.handles ?? new HandleTable<Handle>();
    this.objects = new ObjectHandles(o);
    this.renames = new Renames({ ...o, objects: this.objects });
    const { uid, gid, fileMode, dirMode, mountTimeMs } = o;
    this.defaults = { uid, gid, fileMode, dirMode, mountTimeMs, blksize: o.fetcher.blockBytes };
  }

  /** The metadata cache learnt what `path` is now (having known `before`): read handles of other versions go stale. */
  objectChanged(path: string, node: Node | undefined, before?: Node, local = false): void {
    this.objects.onNode(path, node, before, local);
  }

  private async node(path: string): Promise<Node> {
    const n = this.o.objectMetadata
      ? await this.o.meta.lookupWithAttrs(path)
      : await this.o.meta.lookup(path);
    if (!n) throw fsError('ENOENT', 'no such file or directory', { path });
    return n;
  }

  /**
   * A name over NAME_MAX or a key over S3's limit can neither be created nor exist:
   * ENAMETOOLONG, without asking S3. `asDir`: the key is the marker "path/".
   */
  private fits(path: string, asDir = false): void {
    const why = pathTooLong(this.o.prefix, path, asDir);
    if (why === 'name')
      throw fsError('ENAMETOOLONG', `a name is longer than ${NAME_MAX_BYTES} bytes`, { path });
    if (why === 'key')
      throw fsError('ENAMETOOLONG', `the S3 key would be longer than ${KEY_MAX_BYTES} bytes`, { path });
  }

  private writable(path: string): void {
    if (this.o.readOnly) throw fsError('EROFS', 'mounted read-only', { path });
  }

  private attr(n: Node): Attr {
    return attrOf(n, this.defaults);
  }

  async getattr(path: string): Promise<Attr> {
    this.fits(path);
    const of = this.o.openFiles.get(path);
    let n: Node;
    if (of) n = this.o.openFiles.nodeOf(synced(of));
    else if (isHiddenName(path)) n = this.renames.hidden.get(path) ?? (await this.node(path));
    else n = await this.node(path);
    if (n.kind === 'file') this.objects.toldKernel(path, n.size); // a read open waits it out if it differs
    return this.attr(n);
  }

  /**
   * Names with their attributes: the kernel takes each entry's type from them (d_type),
   * so `find` need not stat every file.
   */
  async readdir(path: string): Promise<DirEntry[]> {
    const all: DirEntry[] = [];
    await this.readdirStream(path, (entries) => all.push(...entries));
    return all;
  }

  /**
   * The same entries as readdir, handed to `onEntries` as they become known (page by
   * page while S3 lists the directory): ".", "..", the files written here and not yet
   * uploaded, then the listing. Each name once.
   */
  async readdirStream(path: string, onEntries: (entries: DirEntry[]) => void): Promise<void> {
    this.fits(path);
    const n = await this.node(path);
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'not a directory', { path });
    await streamDirEntries({ ...this.o, attr: (d) => this.attr(d) }, path, n, onEntries);
  }

  async open(path: string, flags: number): Promise<number> {
    this.fits(path);
    const wantsWrite = opensForWriting(flags);
    if (wantsWrite) this.writable(path);
    const truncate = wantsWrite && (flags & constants.O_TRUNC) !== 0;
    // a path written through this mount: the new handle shares its staged copy
    const existing = await this.o.openFiles.acquire(path, truncate);
    if (existing) return this.addStaged(path, existing, wantsWrite);
    if (!wantsWrite) {
      let n = await this.node(path);
      if (await this.objects.kernelSettled(path, n)) n = await this.node(path);
      if (n.kind === 'dir') throw fsError('EISDIR', 'is a directory', { path });
      return this.objects.open(path, n, (h) => this.handles.add(h));
    }
    const n = await this.o.meta.lookupWithAttrs(path);
    if (!n) throw fsError('ENOENT', 'no such file or directory', { path });
    if (n.kind === 'dir') throw fsError('EISDIR', 'is a directory', { path });
    // lookupWithAttrs has the object's metadata when it sent a HEAD: do not send another
    const head = n.metadata ?? (await this.o.namespace.currentMetadata(path));
    try {
      return this.addStaged(path, await this.o.openFiles.openExisting(path, n, truncate, head), true);
    } catch (err) {
      // the copy-in is pinned to the ETag looked up: if it changed or went, a new open looks again
      if (isStoreError(err, 'PreconditionFailed') || isStoreError(err, 'NotFound'))
        this.o.meta.invalidate(path);
      throw err;
    }
  }

  /**
   * Whether the open that returned `fh` must bypass the kernel's page cache (direct_io):
   * the page cache belongs to the file, not the descriptor, so while a handle of another
   * version of the object is open, pages this one read would be served to that one.
   */
  bypassesPageCache(fh: number): boolean {
    const h = this.handles.find(fh);
    return h?.kind === 'object' && h.directIo;
  }

  /** A handle number for `file`, whose handle count the caller already took (OpenFiles.acquire, create, openExisting). */
  private addStaged(path: string, file: OpenFile, writable: boolean): number {
    const fh = this.handles.add({ kind: 'staged', path, file, writable });
    if (writable) this.o.nativeWrites?.attach(fh, file.staged);
    return fh;
  }

  /** Who a new file, directory, node or link belongs to: its maker with --allow-other, else the mount's owner. */
  private owner(caller: Owner | undefined): Owner {
    return this.o.callerOwns && caller ? caller : { uid: this.o.uid, gid: this.o.gid };
  }

  async create(path: string, mode: number, caller?: Owner): Promise<number> {
    this.writable(path);
    this.fits(path);
    await this.o.namespace.requireParentDir(path);
    const existing = await this.o.openFiles.acquire(path, true);
    if (existing) return this.addStaged(path, existing, true);
    const of = await this.o.openFiles.create(path, {
      mode: S_IFREG | (mode & 0o7777),
      ...this.owner(caller),
    });
    return this.addStaged(path, of, true);
  }

  /** Reads up to `length` bytes at `offset` into `dest`: (dest, offset, length), as below it. */
  async read(fh: number, dest: Buffer, offset: number, length: number): Promise<number> {
    const n = await this.readUncounted(fh, dest, offset, length);
    this.counters.readBytes += n;
    return n;
  }

  private async readUncounted(fh: number, dest: Buffer, offset: number, length: number): Promise<number> {
    const h = this.handles.get(fh);
    switch (h.kind) {
      case 'object':
        return this.objects.read(h, dest, offset, length);
      case 'staged':
        return synced(h.file).staged.read(dest, offset, length);
      default:
        return exhaustive(h);
    }
  }

  /** Writes `length` bytes of `buf` at `offset`: (buf, offset, length), as read. */
  async write(fh: number, buf: Buffer, offset: number, length: number): Promise<number> {
    const h = this.handles.get(fh);
    if (h.kind !== 'staged' || !h.writable)
      throw fsError('EBADF', 'file not open for writing', { path: h.path });
    const n = await synced(h.file).staged.write(
      length === buf.length ? buf : buf.subarray(0, length),
      offset,
    );
    this.counters.writtenBytes += n;
    return n;
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    const h = this.handles.get(fh);
    if (h.kind !== 'staged' || !h.writable)
      throw fsError('EBADF', 'file not open for writing', { path: h.path });
    await this.o.openFiles.truncate(synced(h.file), size);
  }

  async truncate(path: string, size: number): Promise<void> {
    this.writable(path);
    this.fits(path);
    if (await this.changeStaged(path, (of) => this.o.openFiles.truncate(of, size))) return;
    // not open: stage it, change it, upload it (like open + ftruncate + close)
    const fh = await this.open(path, constants.O_WRONLY | (size === 0 ? constants.O_TRUNC : 0));
    try {
      await this.ftruncate(fh, size);
      await this.flush(fh);
    } finally {
      await this.release(fh);
    }
  }

  /**
   * A change by path (truncate, chmod, ...) to a path written through this mount: made to
   * its staged copy, held like a handle meanwhile (so that its last handle's release cannot
   * drop the copy with the change), and uploaded as a close would if no handle has it
   * open (else their close does). False if the path has no staged copy.
   */
  private async changeStaged(path: string, change: (of: OpenFile) => Promise<void>): Promise<boolean> {
    const of = await this.o.openFiles.acquire(path, false);
    if (!of) return false;
    try {
      await change(of);
      if (of.handles === 1) await this.o.openFiles.flush(of);
      else of.pathChange = true; // the last release uploads it, if no close does first
    } finally {
      await this.o.openFiles.release(of);
    }
    return true;
  }

  /**
   * close(): a writer's uploads the file, and so does the last handle's of any mode (a
   * truncate by path while only readers had it open is uploaded at their last close).
   */
  async flush(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (h.kind === 'staged' && (h.writable || h.file.handles === 1))
      await this.o.openFiles.flush(synced(h.file));
  }

  /** fsync(2) syncs the file whatever the descriptor's mode. */
  async fsync(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (h.kind === 'staged') await this.o.openFiles.fsync(synced(h.file));
  }

  async release(fh: number): Promise<void> {
    this.o.nativeWrites?.detach(fh);
    const h = this.handles.remove(fh);
    if (h?.kind === 'staged')
      await this.o.openFiles.release(synced(h.file)); // after detach: FUSE threads wrote their last
    else if (h) this.objects.close(h);
  }

  async unlink(path: string): Promise<void> {
    this.writable(path);
    this.fits(path);
    if (this.renames.hidden.delete(path)) return; // libfuse's last release of a file it hid
    const open = this.o.openFiles.get(path);
    const n = open ? undefined : await this.node(path);
    if (n?.kind === 'dir') throw fsError('EISDIR', 'is a directory', { path });
    this.objects.goneHere(path); // (an open the kernel began before may come in after)
    await this.o.namespace.removeObject(path);
    await this.o.openFiles.unlinked(path);
  }

  async mkdir(path: string, mode: number, caller?: Owner): Promise<void> {
    this.writable(path);
    this.fits(path, true);
    await this.o.namespace.mkdir(path, { mode: S_IFDIR | (mode & 0o7777), ...this.owner(caller) });
  }

  async rmdir(path: string): Promise<void> {
    this.writable(path);
    this.fits(path);
    if (this.o.openFiles.childrenOf(path).length > 0)
      throw fsError('ENOTEMPTY', 'directory not empty', { path });
    await this.o.namespace.rmdir(path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.writable(from);
    this.fits(from);
    this.fits(to); // a directory's keys below it are checked before anything is copied
    await this.renames.rename(from, to);
  }

  async symlink(target: string, path: string, caller?: Owner): Promise<void> {
    this.writable(path);
    this.fits(path);
    await this.o.namespace.symlink(target, path, { mode: S_IFLNK | 0o777, ...this.owner(caller) });
  }

  async readlink(path: string): Promise<string> {
    this.fits(path);
    const n = await this.o.meta.lookupWithAttrs(path);
    if (!n) throw fsError('ENOENT', 'no such file or directory', { path });
    if (n.kind !== 'symlink') throw fsError('EINVAL', 'not a symbolic link', { path });
    return this.o.namespace.readlink(path, n);
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.setAttrs(path, modeChange(mode));
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.setAttrs(path, () => ownerChange(uid, gid));
  }

  async utimens(path: string, _atimeMs: number, mtimeMs: number): Promise<void> {
    await this.setAttrs(path, () => ({ mtimeMs }));
  }

  /** mkfifo, mknod, bind() of a unix socket: an empty object with the type in its metadata, as s3fs. */
  async mknod(path: string, mode: number, rdev: number, caller?: Owner): Promise<void> {
    this.writable(path);
    this.fits(path);
    await this.o.namespace.mknod(path, specialNodeAttrs(path, mode, rdev, this.owner(caller)));
  }

  private async setAttrs(path: string, change: (n: Node) => FileAttrs): Promise<void> {
    this.writable(path);
    this.fits(path);
    if (
      await this.changeStaged(path, (of) =>
        this.o.openFiles.setAttrs(of, change(this.o.openFiles.nodeOf(of))),
      )
    )
      return;
    const n = await this.node(path);
    await this.o.namespace.setAttrs(path, n, change(n));
  }

  /** df: from the bucket's usage when the server tells it (statfs.ts) */
  statfs(): Promise<StatFs> {
    return this.o.statfs?.get() ?? Promise.resolve(LARGE_STATFS);
  }
}

function exhaustive(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
