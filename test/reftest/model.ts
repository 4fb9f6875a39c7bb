// The reference model: the intended semantics of docs/SEMANTICS.md in a few Maps (the
// bucket's keys, staged copies shared by a path's handles, handles), without caches or S3.
import type { ErrnoCode } from '../../src/fs/errno.js';
import { type Op, type OpenFlags, opBytes } from './ops.js';

export type Kind = 'file' | 'dir';

/** A staged copy: what every handle of one path reads and writes, uploaded on close/fsync. */
interface MFile {
  path: string;
  data: Buffer;
  handles: number;
  /** unlinked (or replaced by a rename) while open: kept for its handles, never uploaded */
  unlinked: boolean;
  /** changed since the store last got its bytes */
  dirty: boolean;
}

type MHandle =
  /** `writable`: the descriptor's mode; `flushes`: its close uploads (a create's handle is the daemon's writer whatever the mode) */
  | { kind: 'staged'; file: MFile; readable: boolean; writable: boolean; flushes: boolean }
  /** a read-only open of an object not staged here: pinned to the bytes seen at open */
  | { kind: 'object'; key: string; data: Buffer; readable: true; writable: false; served: boolean };

/**
 * What an operation must give: `ok` (with `bytes` for a read), or an errno. `alt`: other
 * errnos that are also right (a read pinned to an object that changed may fail instead).
 */
export interface Expect {
  errno: ErrnoCode | 'ok';
  bytes?: Buffer;
  alt?: ErrnoCode[];
  /** other bytes a read may give (a handle moved to the current version), and what the model does if it did */
  altBytes?: { bytes: Buffer; taken: () => void };
}

export interface Entry {
  name: string;
  kind: Kind;
  /** files only */
  size?: number;
}

const OK: Expect = { errno: 'ok' };

/** "/a/b" → "a/b" (the mount's prefix is empty). */
export const keyOf = (path: string): string => path.slice(1);
export const parentOf = (path: string): string => {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
};
const under = (dir: string, path: string): boolean => path.startsWith(dir === '/' ? '/' : `${dir}/`);

function resized(data: Buffer, size: number): Buffer {
  if (size <= data.length) return Buffer.from(data.subarray(0, size));
  return Buffer.concat([data, Buffer.alloc(size - data.length)]);
}

export class Model {
  /** the bucket: key → bytes ("d/" is a directory marker) */
  readonly store = new Map<string, Buffer>();
  /** staged copies by path (not unlinked ones: those live on in their handles only) */
  private readonly staged = new Map<string, MFile>();
  readonly handles = new Map<number, MHandle>();

  // --- what a path is ---------------------------------------------------------------

  /**
   * A directory: the root, or any key below "path/" (SEMANTICS.md). A file open here and
   * not yet uploaded does not keep its directory: one whose last key goes away vanishes.
   */
  isDir(path: string): boolean {
    if (path === '/') return true;
    const prefix = `${keyOf(path)}/`;
    for (const k of this.store.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  /** A staged copy wins (this mount's write), then a directory shadows an object of the same name. */
  kind(path: string): Kind | undefined {
    if (this.staged.has(path)) return 'file';
    if (this.isDir(path)) return 'dir';
    return this.store.has(keyOf(path)) ? 'file' : undefined;
  }

  /** The bytes of a file as this mount shows them. */
  content(path: string): Buffer {
    return this.staged.get(path)?.data ?? this.store.get(keyOf(path)) ?? Buffer.alloc(0);
  }

  list(dir: string): Entry[] {
    const names = new Set<string>();
    const prefix = dir === '/' ? '' : `${keyOf(dir)}/`;
    for (const k of this.store.keys()) {
      if (!k.startsWith(prefix)) continue;
      const name = k.slice(prefix.length).split('/')[0] ?? '';
      if (name !== '') names.add(name);
    }
    for (const p of this.staged.keys()) if (parentOf(p) === dir) names.add(p.slice(p.lastIndexOf('/') + 1));
    return [...names].sort().map((name) => {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const kind = this.kind(path) as Kind;
      return kind === 'file' ? { name, kind, size: this.content(path).length } : { name, kind };
    });
  }

  /** Every directory (to see which ones an operation made vanish). */
  dirs(): Set<string> {
    const out = new Set<string>(['/']);
    const add = (rel: string) => {
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) out.add(`/${parts.slice(0, i).join('/')}`);
    };
    for (const k of this.store.keys()) add(k);
    return out;
  }

  // --- what the kernel checks before it calls the filesystem -----------------------

  /** ENOENT/ENOTDIR for a missing or non-directory ancestor. */
  private parentError(path: string): ErrnoCode | undefined {
    const parts = path.split('/').slice(1, -1);
    for (let i = 1; i <= parts.length; i++) {
      const k = this.kind(`/${parts.slice(0, i).join('/')}`);
      if (k === undefined) return 'ENOENT';
      if (k === 'file') return 'ENOTDIR';
    }
    return undefined;
  }

  /**
   * The errno the kernel gives without calling the filesystem (path lookup, file type,
   * descriptor mode), or undefined when the call reaches it. 'skip': an operation on a
   * handle that is not open (its open was shrunk away, or failed).
   */
  precheck(op: Op): ErrnoCode | 'skip' | undefined {
    const pathOp = (path: string) => this.parentError(path) ?? (this.kind(path) ? undefined : 'ENOENT');
    switch (op.op) {
      case 'open': {
        const e = this.parentError(op.path);
        if (e) return e;
        const k = this.kind(op.path);
        if (k === 'dir') return 'EISDIR'; // (an O_RDONLY open of a directory is opendir: not generated)
        return k === undefined && !op.create ? 'ENOENT' : undefined;
      }
      case 'close':
      case 'fsync':
        return this.handles.has(op.h) ? undefined : 'skip';
      case 'read': {
        const h = this.handles.get(op.h);
        return !h ? 'skip' : h.readable ? undefined : 'EBADF';
      }
      case 'write':
      case 'ftruncate': {
        const h = this.handles.get(op.h);
        return !h ? 'skip' : h.writable ? undefined : op.op === 'write' ? 'EBADF' : 'EINVAL';
      }
      case 'truncate':
      case 'unlink':
        return pathOp(op.path) ?? (this.kind(op.path) === 'dir' ? 'EISDIR' : undefined);
      case 'mkdir':
        return this.parentError(op.path) ?? (this.kind(op.path) ? 'EEXIST' : undefined);
      case 'rmdir':
        if (op.path === '/') return 'skip';
        return pathOp(op.path) ?? (this.kind(op.path) === 'file' ? 'ENOTDIR' : undefined);
      case 'readdir':
        return pathOp(op.path) ?? (this.kind(op.path) === 'file' ? 'ENOTDIR' : undefined);
      case 'stat':
        return pathOp(op.path);
      case 'rename': {
        const e = pathOp(op.from) ?? this.parentError(op.to);
        if (e) return e;
        if (op.from === op.to) return 'skip'; // the kernel returns 0 at once
        const src = this.kind(op.from) as Kind;
        const dst = this.kind(op.to);
        if (src === 'dir' && under(op.from, op.to)) return 'EINVAL';
        if (dst === 'dir' && under(op.to, op.from)) return 'ENOTEMPTY';
        if (dst !== undefined && src === 'file' && dst === 'dir') return 'EISDIR';
        if (dst !== undefined && src === 'dir' && dst === 'file') return 'ENOTDIR';
        return undefined;
      }
      case 'putObject':
        return this.conflicts(op.key) ? 'skip' : undefined;
      case 'remount':
      case 'deleteObject':
        return undefined;
      default:
        return exhaustive(op);
    }
  }

  /**
   * Another client's key that would put a file and a directory on one name (a key below a
   * file, or a file where a directory is): left out. The mount shows either for up to
   * --metadata-ttl after its own writes, and the model keeps no caches.
   */
  private conflicts(key: string): boolean {
    const path = `/${key}`;
    if (this.kind(path) === 'dir') return true;
    const parts = key.split('/');
    for (let i = 1; i < parts.length; i++)
      if (this.kind(`/${parts.slice(0, i).join('/')}`) === 'file') return true;
    return false;
  }

  // --- the filesystem's answer and its effect ---------------------------------------

  /** Applies an operation the kernel let through (precheck gave undefined); what the caller must see. */
  apply(op: Op): Expect {
    switch (op.op) {
      case 'open':
        return this.open(op.id, op.path, op.flags, op.create);
      case 'close': {
        const h = this.handles.get(op.h) as MHandle;
        this.handles.delete(op.h);
        if (h.kind === 'staged') {
          const f = h.file;
          f.handles--;
          // close uploads what the shared copy holds; so does the last close of any handle
          if (h.flushes || f.handles === 0) this.upload(f);
          this.forgetIfDone(f);
        }
        return OK;
      }
      case 'fsync': {
        const h = this.handles.get(op.h) as MHandle;
        if (h.kind === 'staged') this.upload(h.file);
        return OK;
      }
      case 'read': {
        const h = this.handles.get(op.h) as MHandle;
        const data = h.kind === 'staged' ? h.file.data : h.data;
        const bytes = Buffer.from(data.subarray(op.offset, op.offset + op.length));
        if (h.kind === 'staged') return { errno: 'ok', bytes };
        const now = this.store.get(h.key);
        const served = h.served;
        if (bytes.length > 0) h.served = true;
        // the object changed: old bytes (still cached) or ESTALE, never new ones...
        if (now?.equals(h.data)) return { errno: 'ok', bytes };
        // ...unless the handle has handed out nothing yet: it may move to the current version
        // if that is no longer than the one it was opened on (docs/SEMANTICS.md, Reading)
        const altBytes =
          !served && now !== undefined && now.length <= h.data.length
            ? {
                bytes: Buffer.from(now.subarray(op.offset, op.offset + op.length)),
                taken: () => {
                  h.data = now;
                  h.served = op.offset < now.length;
                },
              }
            : undefined;
        return { errno: 'ok', bytes, alt: ['ESTALE', 'ENOENT'], ...(altBytes ? { altBytes } : {}) };
      }
      case 'write': {
        const h = this.handles.get(op.h) as Extract<MHandle, { kind: 'staged' }>;
        const f = h.file;
        const end = op.offset + op.length;
        if (end > f.data.length) f.data = resized(f.data, end);
        opBytes(op).copy(f.data, op.offset);
        f.dirty = true;
        return OK;
      }
      case 'ftruncate': {
        const f = (this.handles.get(op.h) as Extract<MHandle, { kind: 'staged' }>).file;
        f.data = resized(f.data, op.size);
        f.dirty = true;
        return OK;
      }
      case 'truncate': {
        const f = this.staged.get(op.path);
        if (f) {
          f.data = resized(f.data, op.size);
          f.dirty = true;
          if (f.handles === 0) this.upload(f); // like a close of its own; else their close does
          return OK;
        }
        this.store.set(keyOf(op.path), resized(this.content(op.path), op.size));
        return OK;
      }
      case 'unlink':
        this.store.delete(keyOf(op.path));
        this.unlinkStaged(op.path);
        return OK;
      case 'mkdir':
        this.store.set(`${keyOf(op.path)}/`, Buffer.alloc(0));
        return OK;
      case 'rmdir': {
        const marker = `${keyOf(op.path)}/`;
        const full = [...this.store.keys()].some((k) => k.startsWith(marker) && k !== marker);
        if (full || this.stagedIn(op.path)) return { errno: 'ENOTEMPTY' };
        this.store.delete(marker);
        return OK;
      }
      case 'rename':
        // a name with files staged in it (not uploaded yet) is not replaced, whatever S3 holds
        if (this.stagedIn(op.to)) return { errno: 'ENOTEMPTY' };
        // files still being uploaded (the file, or files below the directory) are uploaded first
        if (this.kind(op.from) === 'file') {
          const f = this.staged.get(op.from);
          if (f) this.upload(f);
          return this.renameFile(op.from, op.to);
        }
        for (const [p, f] of this.staged) if (under(op.from, p)) this.upload(f);
        return this.renameDir(op.from, op.to);
      case 'readdir':
      case 'stat':
        return OK;
      case 'remount':
        // a restart: handles are gone; staged copies (not unlinked ones) are uploaded by the next core
        for (const f of this.staged.values()) this.store.set(keyOf(f.path), f.data);
        this.staged.clear();
        this.handles.clear();
        return OK;
      case 'putObject':
        this.store.set(op.key, opBytes(op));
        return OK;
      case 'deleteObject':
        this.store.delete(op.key);
        return OK;
      default:
        return exhaustive(op);
    }
  }

  private open(id: number, path: string, flags: OpenFlags, create: boolean): Expect {
    const readable = flags.startsWith('r');
    const writable = flags !== 'r';
    const trunc = flags.endsWith('+trunc');
    const exists = this.kind(path) === 'file';
    let f = this.staged.get(path);
    if (!f && !writable && this.kind(path) === 'file') {
      this.handles.set(id, {
        kind: 'object',
        key: keyOf(path),
        data: this.content(path),
        readable: true,
        writable: false,
        served: false,
      });
      return OK;
    }
    if (!f) {
      // a new file is dirty at once: its close creates the object, even empty
      f = {
        path,
        data: exists && !trunc ? Buffer.from(this.content(path)) : Buffer.alloc(0),
        handles: 0,
        unlinked: false,
        dirty: !exists || (trunc && this.content(path).length > 0),
      };
      this.staged.set(path, f);
    } else if (trunc) {
      f.data = Buffer.alloc(0);
      f.dirty = true;
    }
    f.handles++;
    const created = create && !exists;
    this.handles.set(id, { kind: 'staged', file: f, readable, writable, flushes: writable || created });
    return OK;
  }

  /** Files staged directly in `dir` make it not empty (for rmdir, or as a rename's target). */
  private stagedIn(dir: string): boolean {
    return [...this.staged.keys()].some((p) => parentOf(p) === dir);
  }

  private upload(f: MFile): void {
    if (f.unlinked || !f.dirty) return;
    this.store.set(keyOf(f.path), Buffer.from(f.data));
    f.dirty = false;
  }

  private forgetIfDone(f: MFile): void {
    if (f.handles > 0 || (f.dirty && !f.unlinked)) return;
    if (this.staged.get(f.path) === f) this.staged.delete(f.path);
  }

  private unlinkStaged(path: string): void {
    const f = this.staged.get(path);
    if (!f) return;
    f.unlinked = true;
    this.staged.delete(path);
  }

  private renameFile(from: string, to: string): Expect {
    const f = this.staged.get(from);
    // open here but deleted by another client since, unchanged here: the object is gone
    if (!this.store.has(keyOf(from))) return { errno: 'ENOENT' };
    this.store.set(keyOf(to), this.store.get(keyOf(from)) ?? Buffer.alloc(0));
    this.store.delete(keyOf(from));
    this.unlinkStaged(to); // the replaced file: its handles keep it, it is never uploaded
    if (f) {
      this.staged.delete(from);
      f.path = to;
      if (f.handles > 0 || f.dirty) this.staged.set(to, f);
    }
    return OK;
  }

  private renameDir(from: string, to: string): Expect {
    const toPrefix = `${keyOf(to)}/`;
    const fromPrefix = `${keyOf(from)}/`;
    const full =
      this.kind(to) === 'dir' && [...this.store.keys()].some((k) => k.startsWith(toPrefix) && k !== toPrefix);
    if (full) return { errno: 'ENOTEMPTY' };
    for (const [k, v] of [...this.store]) {
      if (!k.startsWith(fromPrefix)) continue;
      this.store.delete(k);
      this.store.set(toPrefix + k.slice(fromPrefix.length), v);
    }
    // files open below it move with it (their next close uploads under the new name)
    for (const [p, f] of [...this.staged]) {
      if (!under(from, p)) continue;
      this.staged.delete(p);
      f.path = to + p.slice(from.length);
      if (f.handles > 0 || f.dirty) this.staged.set(f.path, f);
    }
    return OK;
  }
}

function exhaustive(x: never): never {
  throw new Error(`unhandled op ${JSON.stringify(x)}`);
}
