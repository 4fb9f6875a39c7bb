// Paths ↔ keys: the pure mapping between FUSE paths ("/a/b") and S3 keys under the
// mount's prefix, and the rule for which key segments can be shown as file names.

/** Longest file name Linux accepts (NAME_MAX), in bytes. */
export const NAME_MAX_BYTES = 255;
/** Longest S3 key, in UTF-8 bytes (the mount's prefix included). */
export const KEY_MAX_BYTES = 1024;

/**
 * Why `path` cannot name an object under `prefix`: a component over NAME_MAX bytes
 * ('name'), or a key over KEY_MAX bytes ('key'); undefined if it can. With `asDir`, the
 * key is the directory's marker "path/". Lengths are UTF-8 bytes.
 */
export function pathTooLong(prefix: string, path: string, asDir = false): 'name' | 'key' | undefined {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: short paths need no counting
  if (3 * (prefix.length + path.length) <= KEY_MAX_BYTES && 3 * path.length <= NAME_MAX_BYTES)
    return undefined;
  const pathBytes = Buffer.byteLength(path);
  const keyBytes = Buffer.byteLength(asDir ? dirPrefix(prefix, path) : fileKey(prefix, path));
  // the common case: no component can be longer than the whole path
  if (pathBytes <= NAME_MAX_BYTES && keyBytes <= KEY_MAX_BYTES) return undefined;
  for (const name of path.split('/')) if (Buffer.byteLength(name) > NAME_MAX_BYTES) return 'name';
  return keyBytes > KEY_MAX_BYTES ? 'key' : undefined;
}

/** Key of the object a file path names: "/a/b" under prefix "p/" → "p/a/b". */
export function fileKey(prefix: string, path: string): string {
  return prefix + path.replace(/^\/+/, '');
}

/** Path of the file a key under the mount's prefix names: "p/a/b" → "/a/b". */
export function pathOfKey(prefix: string, key: string): string {
  return `/${key.startsWith(prefix) ? key.slice(prefix.length) : key}`;
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
  return (
    name !== '' &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\0') &&
    Buffer.byteLength(name) <= NAME_MAX_BYTES
  );
}
