// POSIX attributes kept in object metadata, compatible with s3fs (x-amz-meta-mode, -uid,
// -gid, -mtime in seconds) and rclone (x-amz-meta-mtime with a fraction). Pure.

export interface FileAttrs {
  /** full st_mode, type bits included */
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
  /** device number of a character or block device node (x-amz-meta-rdev, as s3fs) */
  rdev?: number;
}

export const S_IFMT = 0o170000;
export const S_IFLNK = 0o120000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;

/** File types stored as an empty object whose x-amz-meta-mode says the type (as s3fs does); the kernel handles them. */
const SPECIAL_TYPES: ReadonlySet<number> = new Set([S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK]);

export function isSpecialMode(mode: number | undefined): boolean {
  return mode !== undefined && SPECIAL_TYPES.has(mode & S_IFMT);
}

function int(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** Reads attributes from user metadata (keys lower-case, without "x-amz-meta-"). */
export function attrsFromMetadata(md: Record<string, string> | undefined): FileAttrs {
  const a: FileAttrs = {};
  if (!md) return a;
  const mode = int(md.mode);
  if (mode !== undefined) a.mode = mode;
  const uid = int(md.uid);
  if (uid !== undefined) a.uid = uid;
  const gid = int(md.gid);
  if (gid !== undefined) a.gid = gid;
  const rdev = int(md.rdev);
  if (rdev !== undefined) a.rdev = rdev;
  const mtime = md.mtime !== undefined ? Number(md.mtime) : NaN;
  // s3fs writes whole seconds, rclone seconds with a fraction (and older rclone RFC 3339)
  if (Number.isFinite(mtime) && mtime > 0) a.mtimeMs = Math.round(mtime * 1000);
  else if (md.mtime !== undefined && !Number.isNaN(Date.parse(md.mtime))) a.mtimeMs = Date.parse(md.mtime);
  return a;
}

/** Metadata to store for these attributes (what s3fs writes). */
export function metadataFromAttrs(a: FileAttrs): Record<string, string> {
  const md: Record<string, string> = {};
  if (a.mode !== undefined) md.mode = String(a.mode);
  if (a.uid !== undefined) md.uid = String(a.uid);
  if (a.gid !== undefined) md.gid = String(a.gid);
  if (a.mtimeMs !== undefined) md.mtime = String(Math.floor(a.mtimeMs / 1000));
  if (a.rdev !== undefined) md.rdev = String(a.rdev);
  return md;
}

export function isSymlinkMode(mode: number | undefined): boolean {
  return mode !== undefined && (mode & S_IFMT) === S_IFLNK;
}
