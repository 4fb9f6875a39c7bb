// OpenFile: a file being written through this mount (one staged copy shared by its
// handles), and what stat shows for it: size and attributes from the staged copy. Pure.
import { S_IFREG, type FileAttrs } from '../meta/attrs.js';
import type { Node } from '../meta/metadata.js';
import type { StagedFile } from '../write/staging.js';

export interface OpenFile {
  path: string;
  staged: StagedFile;
  handles: number;
  /** unlinked while open: keep serving handles, never upload */
  unlinked: boolean;
  /** local mtime: the object's or the create's (writes and truncates: staged.lastWriteMs), or what utimens set */
  mtimeMs: number;
  /** whether mtime was set explicitly (utimens) rather than by a write */
  mtimeSet: boolean;
  /**
   * changed by path (chmod, chown, utimens, truncate) while other handles had it open,
   * maybe after their last close: the last release uploads it
   */
  pathChange: boolean;
}

/** Owner of a staged file whose metadata names none: the mount's. */
export interface Owner {
  uid: number;
  gid: number;
}

/** The last write's time, unless utimens set one since (the staged file knows writes FUSE threads did). */
export function mtimeOf(of: OpenFile): number {
  return of.mtimeSet ? of.mtimeMs : Math.max(of.mtimeMs, of.staged.lastWriteMs);
}

export function attrsOf(of: OpenFile, owner: Owner): FileAttrs {
  const md = of.staged.record.metadata;
  return {
    mode: md.mode !== undefined ? Number(md.mode) : S_IFREG | 0o644,
    uid: md.uid !== undefined ? Number(md.uid) : owner.uid,
    gid: md.gid !== undefined ? Number(md.gid) : owner.gid,
    mtimeMs: mtimeOf(of),
  };
}

export function nodeOf(of: OpenFile, owner: Owner): Extract<Node, { kind: 'file' | 'symlink' }> {
  const size = of.staged.size;
  const mtimeMs = mtimeOf(of);
  return { kind: 'file', size, mtimeMs, etag: '', attrs: { ...attrsOf(of, owner), mtimeMs } };
}

/**
 * The one place where ops take in what FUSE threads wrote into a staged file (its size,
 * generation, mtime, the eager upload's news): at their start, before they look at it.
 * Ops by path that find a staged copy through OpenFiles.acquire get this there.
 */
export function synced(of: OpenFile): OpenFile {
  of.staged.syncFromNative();
  return of;
}
