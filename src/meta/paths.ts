// Paths ↔ keys: the pure mapping between FUSE paths ("/a/b") and S3 keys under the
// mount's prefix, and the rule for which key segments can be shown as file names.

/** Longest file name Linux accepts (NAME_MAX), in bytes. */
export const NAME_MAX_BYTES = 255;

/** Key of the object a file path names: "/a/b" under prefix "p/" → "p/a/b". */
export function fileKey(prefix: string, path: string): string {
  return prefix + path.replace(/^\/+/, '');
}

/** Key prefix that lists a directory's children: "/" → "p/", "/a" → "p/a/". */
export function dirPrefix(prefix: string, path: string): string {
  const rel = path.replace(/^\/+/, '').replace(/\/+$/, '');
  return rel === '' ? prefix : `${prefix}${rel}/`;
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * Whether a key segment can be a directory entry. Empty segments (from "a//b"),
 * "." and "..", and names longer than NAME_MAX cannot be shown and are hidden.
 */
export function isShowableName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && Buffer.byteLength(name) <= NAME_MAX_BYTES;
}
