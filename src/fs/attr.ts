// What stat(2) shows for a node: type, mode, owner, size and times from what the mount
// knows of the object (its metadata when known), the mount's defaults otherwise. Pure.
import { isSpecialMode, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type FileAttrs } from '../meta/attrs.js';
import type { Node } from '../meta/metadata.js';

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
  /** device number of a device node, else 0 */
  rdev: number;
}

export interface DirEntry {
  name: string;
  attr: Attr;
}

/** What a node without stored attributes shows (the mount's options). */
export interface AttrDefaults {
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  blksize: number;
  /** directories have no timestamp in S3: they show the mount time */
  mountTimeMs: number;
}

const DIR_SIZE = 4096;
const NO_ATTRS: FileAttrs = Object.freeze({});

/** The file type bits a node shows: a special file's come from its stored mode. */
export function typeOf(n: Node): number {
  if (n.kind === 'dir') return S_IFDIR;
  if (n.kind === 'symlink') return S_IFLNK;
  const mode = n.attrs?.mode;
  return isSpecialMode(mode) ? (mode as number) & S_IFMT : S_IFREG;
}

export function attrOf(n: Node, d: AttrDefaults): Attr {
  // one object literal, no spreads: readdir makes one per entry (10,000 for a big ls)
  const a: FileAttrs = n.attrs ?? NO_ATTRS;
  const uid = a.uid ?? d.uid;
  const gid = a.gid ?? d.gid;
  const blksize = d.blksize;
  if (n.kind === 'dir') {
    const t = a.mtimeMs ?? d.mountTimeMs;
    const perm = a.mode !== undefined ? a.mode & 0o7777 : d.dirMode;
    return {
      uid,
      gid,
      blksize,
      mode: S_IFDIR | perm,
      size: DIR_SIZE,
      nlink: 2,
      mtimeMs: t,
      atimeMs: t,
      ctimeMs: t,
      blocks: 8,
      rdev: 0,
    };
  }
  const t = a.mtimeMs ?? n.mtimeMs;
  const type = typeOf(n);
  const perm = n.kind === 'symlink' ? 0o777 : a.mode !== undefined ? a.mode & 0o7777 : d.fileMode;
  return {
    uid,
    gid,
    blksize,
    mode: type | perm,
    size: n.size,
    nlink: 1,
    mtimeMs: t,
    atimeMs: t,
    ctimeMs: t,
    blocks: Math.ceil(n.size / 512),
    rdev: type === S_IFREG ? 0 : (a.rdev ?? 0),
  };
}
