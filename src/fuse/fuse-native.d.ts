// Type declarations for the parts of fuse-native (untyped CommonJS) that s3mount uses.
declare module 'fuse-native' {
  type Cb<T extends unknown[] = []> = (err: number, ...result: T) => void;
  /** the user and group of the process that makes a file (s3mount's fork: create, mkdir, mknod, symlink) */
  export interface Caller {
    uid?: number;
    gid?: number;
  }
  export interface StatLike {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    nlink: number;
    mtime: Date | number;
    atime: Date | number;
    ctime: Date | number;
    blocks: number;
    blksize: number;
    rdev?: number;
  }
  export interface StatFsLike {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid?: number;
    flag?: number;
    namemax: number;
  }
  export interface OpenOptions {
    directIo?: boolean;
  }
  export interface Ops {
    init?(cb: Cb): void;
    statfs?(path: string, cb: Cb<[StatFsLike?]>): void;
    getattr?(path: string, cb: Cb<[StatLike?]>): void;
    fgetattr?(path: string, fd: number, cb: Cb<[StatLike?]>): void;
    readdir?(path: string, cb: Cb<[string[]?, StatLike[]?]>): void;
    /** s3mount's fork: a third callback value { directIo: true } opens with direct_io (UPSTREAM.md) */
    open?(path: string, flags: number, cb: Cb<[number?, OpenOptions?]>): void;
    create?(path: string, mode: number, cb: Cb<[number?]>, caller?: Caller): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (res: number) => void): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (res: number) => void): void;
    release?(path: string, fd: number, cb: Cb): void;
    flush?(path: string, fd: number, cb: Cb): void;
    fsync?(path: string, datasync: number, fd: number, cb: Cb): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb, caller?: Caller): void;
    rmdir?(path: string, cb: Cb): void;
    symlink?(target: string, path: string, cb: Cb, caller?: Caller): void;
    readlink?(path: string, cb: Cb<[string?]>): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    mknod?(path: string, mode: number, rdev: number, cb: Cb, caller?: Caller): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    utimens?(path: string, atime: number, mtime: number, cb: Cb): void;
    access?(path: string, mode: number, cb: Cb): void;
  }
  export type OpTimeouts =
    number | false | ({ default: number } & Partial<Record<keyof Ops, number | false>>);
  export interface FuseOptions {
    timeout?: OpTimeouts;
    force?: boolean;
    mkdir?: boolean;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    fsname?: string;
    subtype?: string;
    debug?: boolean;
  }
  class Fuse {
    constructor(mnt: string, ops: Ops, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }
  export default Fuse;
}
