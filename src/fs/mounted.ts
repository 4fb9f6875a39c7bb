// MountedFileSystem: the operations the FUSE adapter calls, answered by one bucket's
// S3FileSystem or by the root of a whole-account mount (account-root.ts) routing to them.
import type { S3FileSystem } from './filesystem.js';

export type MountedFileSystem = Pick<
  S3FileSystem,
  | 'getattr'
  | 'readdir'
  | 'readdirStream'
  | 'open'
  | 'bypassesPageCache'
  | 'create'
  | 'read'
  | 'write'
  | 'ftruncate'
  | 'truncate'
  | 'flush'
  | 'fsync'
  | 'release'
  | 'unlink'
  | 'mkdir'
  | 'rmdir'
  | 'rename'
  | 'symlink'
  | 'readlink'
  | 'chmod'
  | 'chown'
  | 'utimens'
  | 'statfs'
  | 'mknod'
>;
