// What chmod, chown and mknod change, as attributes to store in object metadata (s3fs's
// x-amz-meta-mode/-uid/-gid/-rdev). Pure: S3FileSystem applies them.
import { isSpecialMode, S_IFBLK, S_IFCHR, S_IFMT, type FileAttrs } from '../meta/attrs.js';
import type { Node } from '../meta/metadata.js';
import { typeOf } from './attr.js';
import { fsError } from './errno.js';

/** chmod keeps the type: a FIFO or device node stays one. */
export function modeChange(mode: number): (n: Node) => FileAttrs {
  return (n) => ({ mode: typeOf(n) | (mode & 0o7777) });
}

/** -1 (as unsigned 32-bit, or signed) means "leave unchanged". */
export function ownerChange(uid: number, gid: number): FileAttrs {
  const keep = (id: number) => id === 0xffffffff || id === -1;
  return { ...(keep(uid) ? {} : { uid }), ...(keep(gid) ? {} : { gid }) };
}

/**
 * The attributes of a node mknod makes (mkfifo, mknod, bind() of a unix socket): its type
 * and permissions, the owner, and a device's number. Regular files are made by create
 * (libfuse never sends mknod for them); anything else is EINVAL.
 */
export function specialNodeAttrs(path: string, mode: number, rdev: number, owner: FileAttrs): FileAttrs {
  if (!isSpecialMode(mode)) throw fsError('EINVAL', 'cannot make a node of this type', { path, mode });
  const type = mode & S_IFMT;
  return {
    ...owner,
    mode: type | (mode & 0o7777),
    ...(type === S_IFCHR || type === S_IFBLK ? { rdev } : {}),
  };
}
