// FUSE adapter: the only importer of fuse-native. Translates each op into a call on
// S3FileSystem, logs a failure once at the level the errno policy gives, replies.
import Fuse, { type Ops, type OpTimeouts, type StatLike } from 'fuse-native';
import type { Attr, S3FileSystem } from '../fs/filesystem.js';
import { toErrno } from '../fs/errno.js';
import type { Logger } from '../log/logger.js';

export interface FuseMountOptions {
  mountpoint: string;
  fsname: string;
  allowOther: boolean;
  /** fuse-native's per-op timeout for quick ops; must exceed the core's S3 deadline */
  opTimeoutMs: number;
}

/**
 * fuse-native builds libfuse's -o string in _fuseOptions() and offers no way to add
 * options; big_writes lets the kernel send 128 KiB writes instead of 4 KiB ones
 * (measured 52 → 641 MB/s).
 */
class S3Fuse extends Fuse {
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    return base === '' ? '-obig_writes' : `${base},big_writes`;
  }
}

function toStat(a: Attr): StatLike {
  return { mode: a.mode, uid: a.uid, gid: a.gid, size: a.size, nlink: a.nlink, mtime: a.mtimeMs, atime: a.atimeMs, ctime: a.ctimeMs, blocks: a.blocks, blksize: a.blksize };
}

/**
 * fuse-native turns each timespec into whole milliseconds, so UTIME_NOW and UTIME_OMIT
 * (tv_sec 0, tv_nsec 2^30-1 or 2^30-2) both arrive as 1073 ms: take them as "now".
 */
const UTIME_SPECIAL_MS = 1073;
function fromUtime(ms: number): number {
  return ms === UTIME_SPECIAL_MS ? Date.now() : ms;
}

export interface MountedFuse {
  unmount(): Promise<void>;
}

export function buildOps(fs: S3FileSystem, logger: Logger): Ops {
  /** Runs one op: success → reply(0, value), failure → logged once, reply(-errno). */
  function run<T>(op: string, path: string, work: () => Promise<T>, reply: (res: number, value?: T) => void): void {
    work().then(
      (v) => reply(0, v),
      (err: unknown) => {
        const d = toErrno(err);
        const msg = err instanceof Error ? err.message : String(err);
        logger[d.level](`${op} failed`, { path, errno: d.code, error: msg });
        reply(d.errno);
      },
    );
  }
  /** read/write reply with a byte count or a negative errno in the first argument. */
  function count(op: string, path: string, work: () => Promise<number>, cb: (res: number) => void): void {
    run(op, path, work, (res, n) => cb(res < 0 ? res : (n ?? 0)));
  }

  return {
    init: (cb) => cb(0),
    statfs: (path, cb) => run('statfs', path, () => fs.statfs(), (res, v) => cb(res, v)),
    getattr: (path, cb) => run('getattr', path, () => fs.getattr(path), (res, v) => cb(res, v && toStat(v))),
    readdir: (path, cb) =>
      run('readdir', path, () => fs.readdir(path), (res, v) => (v ? cb(res, v.map((e) => e.name), v.map((e) => toStat(e.attr))) : cb(res))),
    open: (path, flags, cb) => run('open', path, () => fs.open(path, flags), (res, fh) => cb(res, fh)),
    read: (path, fd, buf, len, pos, cb) => count('read', path, () => fs.read(fd, buf, len, pos), cb),
    release: (path, fd, cb) => run('release', path, () => fs.release(fd), (res) => cb(res)),
    create: (path, mode, cb) => run('create', path, () => fs.create(path, mode), (res, fh) => cb(res, fh)),
    write: (path, fd, buf, len, pos, cb) => count('write', path, () => fs.write(fd, buf, len, pos), cb),
    flush: (path, fd, cb) => run('flush', path, () => fs.flush(fd), (res) => cb(res)),
    fsync: (path, _datasync, fd, cb) => run('fsync', path, () => fs.fsync(fd), (res) => cb(res)),
    truncate: (path, size, cb) => run('truncate', path, () => fs.truncate(path, size), (res) => cb(res)),
    ftruncate: (path, fd, size, cb) => run('ftruncate', path, () => fs.ftruncate(fd, size), (res) => cb(res)),
    unlink: (path, cb) => run('unlink', path, () => fs.unlink(path), (res) => cb(res)),
    mkdir: (path, mode, cb) => run('mkdir', path, () => fs.mkdir(path, mode), (res) => cb(res)),
    rmdir: (path, cb) => run('rmdir', path, () => fs.rmdir(path), (res) => cb(res)),
    rename: (from, to, cb) => run('rename', from, () => fs.rename(from, to), (res) => cb(res)),
    symlink: (target, path, cb) => run('symlink', path, () => fs.symlink(target, path), (res) => cb(res)),
    readlink: (path, cb) => run('readlink', path, () => fs.readlink(path), (res, v) => cb(res, v)),
    chmod: (path, mode, cb) => run('chmod', path, () => fs.chmod(path, mode), (res) => cb(res)),
    chown: (path, uid, gid, cb) => run('chown', path, () => fs.chown(path, uid, gid), (res) => cb(res)),
    utimens: (path, atime, mtime, cb) => run('utimens', path, () => fs.utimens(path, fromUtime(atime), fromUtime(mtime)), (res) => cb(res)),
  };
}

/** Mounts; resolves once the kernel has sent INIT (the mount is usable). */
export async function mountFuse(fs: S3FileSystem, opts: FuseMountOptions, logger: Logger): Promise<MountedFuse> {
  // Quick ops get fuse-native's timeout, set above the core's S3 deadline. Ops whose
  // duration grows with the data (uploads at close/fsync, staging an object on open,
  // copying a directory on rename, a huge listing) are made of many bounded S3 calls
  // and get no overall limit: cutting them off would report a failure that is not one.
  const unbounded = ['readdir', 'open', 'create', 'flush', 'fsync', 'release', 'truncate', 'ftruncate', 'rename', 'chmod', 'chown', 'utimens', 'rmdir'] as const;
  const timeout: OpTimeouts = { default: opts.opTimeoutMs, ...Object.fromEntries(unbounded.map((op) => [op, false])) };
  const fuse = new S3Fuse(opts.mountpoint, buildOps(fs, logger.child({ mod: 'fuse' })), {
    timeout,
    fsname: opts.fsname,
    subtype: 's3mount',
    allowOther: opts.allowOther,
    defaultPermissions: opts.allowOther,
  });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  return {
    unmount: () => new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve()))),
  };
}
