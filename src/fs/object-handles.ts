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
import { systemClock, type SleepClock } from '../util/clock.js';
import { RecentMap } from '../util/recent-map.js';
import { fsError } from './errno.js';

/**
 * How long the kernel keeps attributes and names it was told (libfuse's attr_timeout and
 * entry_timeout, 1 s), with a margin for a reply a FUSE thread sent just before the
 * mount learnt of a change: the kernel counts the second from when the reply reaches it,
 * which on a loaded node (every core busy) can be a few hundred milliseconds after
 * JavaScript made it.
 */
export const KERNEL_ATTR_MS = 1500;

/** How many paths seen changing the mount remembers (their opens bypass the page cache). */
const CHANGED_PATHS_MAX = 10_000;
/** A file seen changing this recently may change again while open: its opens bypass the page cache. */
export const CHANGED_RECENTLY_MS = 60_000;

export type FileNode = Extract<Node, { kind: 'file' | 'symlink' }>;

/** An open read handle of an object (the 'object' case of the handle table). */
export interface ObjectHandle {
  kind: 'object';
  path: string;
  fh: number;
  reader: ObjectReader;
  /** what the path was when this handle's version was opened (or moved to) */
  node: FileNode;
  /** the mount learnt of another version of the path, or that it is gone: every read fails */
  stale: boolean;
  /** JavaScript handed out bytes of its version */
  served: boolean;
  /** its name was unlinked or renamed over: it never moves to whatever has the name now */
  detached: boolean;
  /** its reads bypass the page cache (FUSE direct_io; bypassPageCache says when) */
  directIo: boolean;
  /** how many times it moved to another version (versionGone): a read begun before is void */
  moves: number;
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
  /** default: the system's */
  clock?: SleepClock;
  /** the mount learnt that a path's size changed: attributes cached on the FUSE threads are stale */
  onSizeChange?: () => void;
  /** every open of an object bypasses the kernel's page cache (--direct-io) */
  directIo?: boolean;
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

/** Whether the kernel may hold a size for `path` other than `now`'s: the path had `before`. */
function sizeChanged(before: Node | undefined, now: Node | undefined): boolean {
  if (before === undefined || before.kind === 'dir') return false;
  return now === undefined || now.kind === 'dir' || now.size !== before.size;
}

export class ObjectHandles {
  private readonly byPath = new Map<string, Set<ObjectHandle>>();
  /** paths whose size the mount learnt changed, and when (kept for KERNEL_ATTR_MS) */
  private readonly sizeChanges = new Map<string, number>();
  /** sizes the kernel was given for paths (getattr answers, changes made here), and when */
  private readonly told = new Map<string, { size: number; atMs: number }>();
  /** paths the mount saw change from one version to another, and when */
  private readonly changedPaths = new RecentMap<string, number>(CHANGED_PATHS_MAX);
  private readonly clock: SleepClock;

  constructor(private readonly o: ObjectHandlesOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** A handle reading `node`'s version of `path`; `add` numbers it (the handle table). */
  open(path: string, node: FileNode, add: (h: ObjectHandle) => number): number {
    const reader = this.reader(path, node);
    let set = this.byPath.get(path);
    const version = reader.object.version;
    const h: ObjectHandle = {
      kind: 'object',
      path,
      fh: 0,
      reader,
      node,
      stale: false,
      served: false,
      detached: false,
      directIo: this.bypassPageCache(path, version, set),
      moves: 0,
    };
    h.fh = add(h);
    if (this.o.fastReads) reader.attachFast(this.o.fastReads, h.fh);
    if (!set) this.byPath.set(path, (set = new Set()));
    set.add(h);
    this.o.smallFiles?.opened(path);
    return h.fh;
  }

  /**
   * The kernel's page cache and file size belong to the file, not the descriptor: a
   * descriptor reading through them can be handed pages another open cached of another
   * version, or have its reads cut at (or padded to) another version's size the kernel
   * learnt meanwhile. So a new open bypasses them (direct_io) when a handle of another
   * version is open here, when the path was seen changing within CHANGED_RECENTLY_MS (it
   * may change again while open), or always with --direct-io.
   */
  private bypassPageCache(path: string, version: string, open: Set<ObjectHandle> | undefined): boolean {
    if (this.o.directIo) return true;
    const changed = this.changedPaths.get(path);
    if (changed !== undefined && changed + CHANGED_RECENTLY_MS > this.clock.nowMs()) return true;
    // (a detached handle's file is another inode: libfuse hid it under another name)
    for (const o of open ?? []) if (!o.detached && o.reader.object.version !== version) return true;
    return false;
  }

  private reader(path: string, node: FileNode): ObjectReader {
    return new ObjectReader(
      versionOf(fileKey(this.o.prefix, path), node, this.o.cacheScope),
      this.o.fetcher,
      this.o.readAheadBytes,
    );
  }

  /**
   * Before a new read handle of `path` on `node` is opened: if the mount learnt within the
   * kernel's attribute timeout that the path's size changed, or gave the kernel another
   * size than `node`'s meanwhile (a getattr answer, a file written or renamed here), the
   * kernel may still hold that size: fstat would say it and reads would be cut at it (or
   * padded to it). The open waits until that cached size has expired, so the kernel asks
   * again before it reads.
   */
  async kernelSettled(path: string, node: Node): Promise<boolean> {
    const at = this.sizeChanges.get(path);
    const told = this.told.get(path);
    const now = this.clock.nowMs();
    let until = at === undefined ? 0 : at + KERNEL_ATTR_MS;
    if (told && node.kind !== 'dir' && told.size !== node.size)
      until = Math.max(until, told.atMs + KERNEL_ATTR_MS);
    if (until <= now) {
      if (at !== undefined) this.sizeChanges.delete(path);
      return false;
    }
    await this.clock.sleep(until - now);
    if (this.sizeChanges.get(path) === at) this.sizeChanges.delete(path);
    return true;
  }

  /**
   * The metadata cache learnt what `path` is now (undefined: nothing), having known
   * `before`: other versions' handles go stale, and a size change is remembered for a
   * while (kernelSettled). `local`: a change this mount made (the kernel made it too, and
   * holds its size).
   */
  onNode(path: string, node: Node | undefined, before?: Node, local = false): void {
    if (local && node?.kind === 'file') this.toldKernel(path, node.size);
    if (sizeChanged(before, node)) this.noteSizeChange(path);
    // another version, or gone (a new open may race the kernel's old inode: goneHere)
    if (
      before?.kind === 'file' &&
      before.etag !== '' &&
      (node === undefined || (node.kind === 'file' && node.etag !== before.etag))
    )
      this.changedPaths.set(path, this.clock.nowMs());
    const set = this.byPath.get(path);
    if (!set) return;
    for (const h of set) if (!h.stale && !sameVersion(h.reader.object, node)) this.markStale(h);
  }

  /**
   * The file at `path` is being replaced (renamed over) or removed here. The kernel gives
   * the name to another inode, or to none; but an open it began before (its path walk
   * found the old file's inode) reaches this mount by name once the change is done, and
   * is given whatever has the name then: the kernel would cut that descriptor's reads at
   * the old file's size (or pad them to it), which is all it knows of that inode. So the
   * path counts as seen changing: opens bypass the page cache for a while
   * (CHANGED_RECENTLY_MS), and their reads are what the version has.
   */
  goneHere(path: string): void {
    this.changedPaths.set(path, this.clock.nowMs());
  }

  private noteSizeChange(path: string): void {
    const now = this.clock.nowMs();
    // forget what the kernel no longer holds, so the map stays as small as a second's changes
    if (this.sizeChanges.size > 1000)
      for (const [p, at] of this.sizeChanges) if (at + KERNEL_ATTR_MS <= now) this.sizeChanges.delete(p);
    this.sizeChanges.set(path, now);
    this.o.onSizeChange?.();
  }

  /** The kernel was given `size` for `path` now (a getattr answer, a change made here). */
  toldKernel(path: string, size: number): void {
    const now = this.clock.nowMs();
    this.told.delete(path); // (re-inserted last: the map stays in time order)
    this.told.set(path, { size, atMs: now });
    // a getattr answer is a hot path: drop what expired from the front, nothing more
    for (const [p, t] of this.told) {
      if (t.atMs + KERNEL_ATTR_MS > now) break;
      this.told.delete(p);
    }
  }

  /**
   * `path` was unlinked, or renamed over, here (libfuse hid it): its handles keep their
   * version, whatever has the name from now on.
   */
  unlinked(path: string): void {
    const set = this.byPath.get(path);
    if (!set) return;
    this.byPath.delete(path);
    for (const h of set) h.detached = true;
  }

  /**
   * The version open handles of `path` read (one reading through the page cache, if any:
   * the kernel cuts those reads at the size it is told), or undefined if none is open.
   */
  heldVersion(path: string): FileNode | undefined {
    let held: ObjectHandle | undefined;
    for (const h of this.byPath.get(path) ?? []) if (!held || (held.directIo && !h.directIo)) held = h;
    return held?.node;
  }

  /**
   * `from` (a file, or a directory with files below it) was renamed to `to` here: its
   * handles follow their file. `etagAfter` is the ETag a handle's version has under the
   * new key (the copy's), or undefined if the rename copied another version (stale).
   */
  renamed(
    from: string,
    to: string,
    etagAfter: (h: ObjectHandle, newPath: string) => string | undefined,
  ): void {
    const below = `${from}/`;
    for (const [path, set] of [...this.byPath]) {
      if (path !== from && !path.startsWith(below)) continue;
      const newPath = to + path.slice(from.length);
      this.byPath.delete(path);
      let dest = this.byPath.get(newPath);
      if (!dest) this.byPath.set(newPath, (dest = new Set()));
      for (const h of set) {
        h.path = newPath;
        dest.add(h);
        if (h.stale) continue;
        const etag = etagAfter(h, newPath);
        if (etag === undefined) {
          this.markStale(h);
          continue;
        }
        const o = h.reader.object;
        this.repin(h, { kind: 'file', size: o.size, etag, mtimeMs: mtimeOfVersion(o.version) });
      }
    }
  }

  private repin(h: ObjectHandle, node: FileNode): void {
    h.node = node;
    h.reader.close();
    h.reader = this.reader(h.path, node);
    if (this.o.fastReads) h.reader.attachFast(this.o.fastReads, h.fh);
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
      const moves = h.moves;
      try {
        const n = await h.reader.read(dest, offset, length);
        this.stillValid(h, moves);
        if (n > 0) h.served = true;
        return n;
      } catch (err) {
        if (!isStoreError(err, 'PreconditionFailed') && !isStoreError(err, 'NotFound')) throw err;
        await this.versionGone(h, attempt, err, moves);
      }
    }
  }

  /**
   * Throws ESTALE if the bytes a read of `h` just got may no longer be handed out: the
   * handle moved to another version meanwhile, or, reading through the page cache, went
   * stale. The kernel copies a read's pages out up to the size it holds when they arrive,
   * and a getattr may have told it the new version's size while the read waited for S3:
   * the old version's bytes would be cut at it, or padded with zeros to it. (A direct_io
   * read is answered as it is: the kernel hands out exactly the bytes sent.)
   */
  private stillValid(h: ObjectHandle, moves: number): void {
    if (h.moves !== moves || (h.stale && !h.directIo))
      throw fsError('ESTALE', 'the object was replaced while this read waited for it', { path: h.path });
  }

  /**
   * The version `h` reads is no longer in S3. A handle that has handed out bytes of it
   * (or may have, through FUSE threads) is stale. One that has not moves to the current
   * version if it can (canMove), else is stale too.
   */
  private async versionGone(h: ObjectHandle, attempt: number, err: unknown, moves: number): Promise<void> {
    if (h.moves !== moves) return; // another read of h moved it meanwhile: this one tries again
    this.o.meta.invalidate(h.path); // a new open looks it up again
    const servedNatively = this.o.fastReads !== undefined && this.o.fetcher.hasAnyBlock(h.reader.object);
    if (attempt > 0 || h.served || servedNatively || h.detached) {
      this.markStale(h);
      throw fsError('ESTALE', 'the object was replaced or deleted since it was read', { path: h.path }, err);
    }
    const now = await this.o.meta.lookup(h.path); // asks S3: tells onNode, which marks h stale
    if (now === undefined) throw fsError('ENOENT', 'the object was deleted', { path: h.path }, err);
    // (another read of h may have handed out bytes of the old version meanwhile, or moved it)
    if (now.kind === 'dir' || !this.canMove(h, now.size) || h.served || h.moves !== moves) {
      this.markStale(h);
      throw fsError(
        'ESTALE',
        'the object was replaced by one of another size since it was opened',
        { path: h.path },
        err,
      );
    }
    this.repin(h, now);
    h.stale = false;
    h.moves++;
  }

  /**
   * Whether `h` may read a version of `size` instead of its own. Not a longer one: the
   * kernel may still hold the size seen at open and would cut the new bytes at it. Through
   * the page cache, not a shorter one either: the kernel pads a short answer with zeros
   * to the size it holds, and shrinks that size only if no attribute reply for the file
   * came in while the read was out (two mounts replacing shared files met it). A direct_io
   * read is handed out exactly as answered.
   */
  private canMove(h: ObjectHandle, size: number): boolean {
    const own = h.reader.object.size;
    return h.directIo ? size <= own : size === own;
  }

  close(h: ObjectHandle): void {
    const set = this.byPath.get(h.path);
    set?.delete(h); // (a detached handle is in no set)
    if (set?.size === 0) this.byPath.delete(h.path);
    h.reader.close();
  }
}

/** The mtime a version without an ETag was named by (versionOf), else 0: only such versions use it. */
function mtimeOfVersion(version: string): number {
  const m = /@(\d+)$/.exec(version);
  return m ? Number(m[1]) : 0;
}
