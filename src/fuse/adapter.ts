// FUSE adapter: the only importer of fuse-native. Translates each op into a call on
// S3FileSystem (or a whole-account root, fs/account-root.ts), logs a failure once at the level the errno policy gives, replies.
import Fuse, { type Caller, type Ops, type StatLike } from 'fuse-native';
import type { Attr, Owner } from '../fs/filesystem.js';
import { opensForWriting } from '../fs/open-flags.js';
import type { MountedFileSystem } from '../fs/mounted.js';
import { toErrno } from '../fs/errno.js';
import type { Logger } from '../log/logger.js';
import { STAT_FIELDS as F, STAT_INTS, TWO32, type AttrFastPath, type DirStreamPort } from './native.js';

export type { MountedFileSystem };

export interface FuseMountOptions {
  mountpoint: string;
  fsname: string;
  allowOther: boolean;
  /** native attribute cache filled from readdir, and how long its entries live */
  attrs?: { fast: AttrFastPath; ttlMs: number };
  /** readdir served page by page from native code */
  dirs?: DirStreamPort;
}

/**
 * fuse-native builds libfuse's -o string in _fuseOptions() and offers no way to add
 * options. big_writes lets the kernel send 128 KiB writes instead of 4 KiB ones
 * (measured 52 → 641 MB/s). atomic_o_trunc passes O_TRUNC to open: without it the kernel
 * opens without the flag and truncates afterwards, so overwriting an object
 * (`cp new old`, `> old`) would first download it into the staged copy.
 */
class S3Fuse extends Fuse {
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    return base === '' ? '-obig_writes,atomic_o_trunc' : `${base},big_writes,atomic_o_trunc`;
  }
}

function toStat(a: Attr): StatLike {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    mtime: a.mtimeMs,
    atime: a.atimeMs,
    ctime: a.ctimeMs,
    blocks: a.blocks,
    blksize: a.blksize,
    rdev: a.rdev,
  };
}

/** Attrs in fuse-native's stat layout (its getStatArray), STAT_INTS uint32 each, for the native cache. */
export function encodeStats(attrs: Attr[]): Uint32Array {
  const out = new Uint32Array(attrs.length * STAT_INTS);
  for (let k = 0; k < attrs.length; k++) {
    const a = attrs[k] as Attr;
    const o = k * STAT_INTS;
    out[o + F.mode] = a.mode;
    out[o + F.uid] = a.uid;
    out[o + F.gid] = a.gid;
    put64(out, o + F.size, a.size);
    out[o + F.nlink] = a.nlink;
    out[o + F.blksize] = a.blksize;
    out[o + F.rdev] = a.rdev;
    put64(out, o + F.blocks, a.blocks);
    put64(out, o + F.atime, a.atimeMs);
    put64(out, o + F.mtime, a.mtimeMs);
    put64(out, o + F.ctime, a.ctimeMs);
  }
  return out;
}

/** a whole number as two uint32 halves, low first */
function put64(out: Uint32Array, at: number, n: number): void {
  const whole = Math.floor(n);
  out[at] = whole % TWO32;
  out[at + 1] = Math.floor(whole / TWO32);
}

/** Ops that never change what getattr answers; every other op drops the native attribute cache. */
const READ_ONLY_OPS = new Set(['init', 'statfs', 'getattr', 'readdir', 'read', 'readlink', 'open']);

/**
 * fuse-native turns each timespec into whole milliseconds, so UTIME_NOW and UTIME_OMIT
 * (tv_sec 0, tv_nsec 2^30-1 or 2^30-2) both arrive as 1073 ms: take them as "now".
 */
const UTIME_SPECIAL_MS = 1073;
function fromUtime(ms: number): number {
  return ms === UTIME_SPECIAL_MS ? Date.now() : ms;
}

/** The calling process's user and group, when the binding passes them (s3mount's fork does). */
function ownerOf(caller: Caller | undefined): Owner | undefined {
  return caller?.uid !== undefined && caller.gid !== undefined
    ? { uid: caller.uid, gid: caller.gid }
    : undefined;
}

export interface MountedFuse {
  unmount(): Promise<void>;
}

export function buildOps(
  fs: MountedFileSystem,
  logger: Logger,
  attrs?: FuseMountOptions['attrs'],
  dirs?: DirStreamPort,
): Ops {
  const fast = attrs && attrs.ttlMs > 0 ? attrs.fast : undefined;
  /** Runs one op: success → reply(0, value), failure → logged once, reply(-errno). */
  function run<T>(
    op: string,
    path: string,
    work: () => Promise<T>,
    reply: (res: number, value?: T) => void,
    mutates = !READ_ONLY_OPS.has(op),
  ): void {
    // a change drops cached attributes before it starts and again once it is done
    if (mutates) fast?.invalidate();
    work().then(
      (v) => {
        if (mutates) fast?.invalidate();
        reply(0, v);
      },
      (err: unknown) => {
        if (mutates) fast?.invalidate();
        const d = toErrno(err);
        const msg = err instanceof Error ? err.message : String(err);
        logger[d.level](`${op} failed`, { path, errno: d.code, error: msg });
        reply(d.errno);
      },
    );
  }
  /**
   * readdir's entries feed the native attribute cache, unless something changed meanwhile;
   * "." and ".." (first, when there) are not cached.
   */
  function cacheAttrs(path: string, names: string[], stats: Uint32Array, gen: number | undefined): void {
    if (!fast || gen === undefined) return;
    let skip = 0;
    while (skip < names.length && (names[skip] === '.' || names[skip] === '..')) skip++;
    if (skip < names.length)
      fast.put(
        path,
        skip > 0 ? names.slice(skip) : names,
        stats.subarray(skip * STAT_INTS),
        attrs?.ttlMs ?? 0,
        gen,
      );
  }
  function readdir(path: string, cb: (err: number, names?: string[], stats?: StatLike[]) => void): void {
    const gen = fast?.gen();
    run(
      'readdir',
      path,
      () => fs.readdir(path),
      (res, v) => {
        if (!v) return cb(res);
        const names = v.map((e) => e.name);
        cacheAttrs(path, names, encodeStats(v.map((e) => e.attr)), gen);
        cb(
          res,
          names,
          v.map((e) => toStat(e.attr)),
        );
      },
    );
  }
  /** A listing a native readdir waits for: its entries go to it as they become known. */
  function streamDir(dirs: DirStreamPort, id: number, path: string): void {
    const gen = fast?.gen();
    const none = new Uint32Array(0);
    run(
      'readdir',
      path,
      () =>
        fs.readdirStream(path, (entries) => {
          const names = entries.map((e) => e.name);
          const stats = encodeStats(entries.map((e) => e.attr));
          cacheAttrs(path, names, stats, gen);
          dirs.push(id, names, stats, false);
        }),
      (res) => dirs.push(id, [], none, true, -res),
    );
  }
  /** read/write reply with a byte count or a negative errno in the first argument. */
  function count(op: string, path: string, work: () => Promise<number>, cb: (res: number) => void): void {
    run(op, path, work, (res, n) => cb(res < 0 ? res : (n ?? 0)));
  }

  dirs?.onRequest((id, path) => streamDir(dirs, id, path));
  return {
    init: (cb) => cb(0),
    statfs: (path, cb) =>
      run(
        'statfs',
        path,
        () => fs.statfs(),
        (res, v) => cb(res, v),
      ),
    getattr: (path, cb) =>
      run(
        'getattr',
        path,
        () => fs.getattr(path),
        (res, v) => cb(res, v && toStat(v)),
      ),
    readdir,
    open: (path, flags, cb) =>
      run(
        'open',
        path,
        () => fs.open(path, flags),
        // another version of the file is open here: keep this one's reads out of the page cache
        (res, fh) =>
          cb(res, fh, fh !== undefined && fs.bypassesPageCache(fh) ? { directIo: true } : undefined),
        opensForWriting(flags),
      ),
    read: (path, fd, buf, len, pos, cb) => count('read', path, () => fs.read(fd, buf, pos, len), cb),
    release: (path, fd, cb) =>
      run(
        'release',
        path,
        () => fs.release(fd),
        (res) => cb(res),
      ),
    create: (path, mode, cb, caller) =>
      run(
        'create',
        path,
        () => fs.create(path, mode, ownerOf(caller)),
        (res, fh) => cb(res, fh),
      ),
    write: (path, fd, buf, len, pos, cb) => count('write', path, () => fs.write(fd, buf, pos, len), cb),
    flush: (path, fd, cb) =>
      run(
        'flush',
        path,
        () => fs.flush(fd),
        (res) => cb(res),
      ),
    fsync: (path, _datasync, fd, cb) =>
      run(
        'fsync',
        path,
        () => fs.fsync(fd),
        (res) => cb(res),
      ),
    truncate: (path, size, cb) =>
      run(
        'truncate',
        path,
        () => fs.truncate(path, size),
        (res) => cb(res),
      ),
    ftruncate: (path, fd, size, cb) =>
      run(
        'ftruncate',
        path,
        () => fs.ftruncate(fd, size),
        (res) => cb(res),
      ),
    unlink: (path, cb) =>
      run(
        'unlink',
        path,
        () => fs.unlink(path),
        (res) => cb(res),
      ),
    mkdir: (path, mode, cb, caller) =>
      run(
        'mkdir',
        path,
        () => fs.mkdir(path, mode, ownerOf(caller)),
        (res) => cb(res),
      ),
    rmdir: (path, cb) =>
      run(
        'rmdir',
        path,
        () => fs.rmdir(path),
        (res) => cb(res),
      ),
    rename: (from, to, cb) =>
      run(
        'rename',
        from,
        () => fs.rename(from, to),
        (res) => cb(res),
      ),
    symlink: (target, path, cb, caller) =>
      run(
        'symlink',
        path,
        () => fs.symlink(target, path, ownerOf(caller)),
        (res) => cb(res),
      ),
    readlink: (path, cb) =>
      run(
        'readlink',
        path,
        () => fs.readlink(path),
        (res, v) => cb(res, v),
      ),
    chmod: (path, mode, cb) =>
      run(
        'chmod',
        path,
        () => fs.chmod(path, mode),
        (res) => cb(res),
      ),
    chown: (path, uid, gid, cb) =>
      run(
        'chown',
        path,
        () => fs.chown(path, uid, gid),
        (res) => cb(res),
      ),
    mknod: (path, mode, rdev, cb, caller) =>
      run(
        'mknod',
        path,
        () => fs.mknod(path, mode, rdev, ownerOf(caller)),
        (res) => cb(res),
      ),
    utimens: (path, atime, mtime, cb) =>
      run(
        'utimens',
        path,
        () => fs.utimens(path, fromUtime(atime), fromUtime(mtime)),
        (res) => cb(res),
      ),
  };
}

/** Mounts; resolves once the kernel has sent INIT (the mount is usable). */
export async function mountFuse(
  fs: MountedFileSystem,
  opts: FuseMountOptions,
  logger: Logger,
): Promise<MountedFuse> {
  // No fuse-native timeouts: every S3 call the core makes has its own deadline
  // (--request-timeout), ops whose length grows with the data (uploads at close, a
  // directory rename, a huge listing) must not be cut off, and fuse-native's timer costs
  // a setTimeout/clearTimeout per op (about a third of a no-op's cost, measured).
  const fuse = new S3Fuse(
    opts.mountpoint,
    buildOps(fs, logger.child({ mod: 'fuse' }), opts.attrs, opts.dirs),
    {
      timeout: false,
      fsname: opts.fsname,
      subtype: 's3mount',
      allowOther: opts.allowOther,
      defaultPermissions: opts.allowOther,
    },
  );
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  return {
    unmount: () =>
      new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve()))),
  };
}
