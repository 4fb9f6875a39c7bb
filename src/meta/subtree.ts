// SubtreeMerge: turns the pages of one listing WITHOUT a delimiter under a directory into
// the listing of every directory below it, each handed out complete as soon as the sorted
// keys have gone past it. Pure. Same rules as listing.ts (docs/SEMANTICS.md, "Directories").
import type { ObjectInfo } from '../s3/store.js';
import { emptyDirectory, type Directory } from './listing.js';
import { isShowableName, joinPath } from './paths.js';

/** A directory whose listing is complete: no later key of the listing can fall in it. */
export interface SealedDir {
  path: string;
  dir: Directory;
}

interface Open {
  name: string;
  path: string;
  dir: Directory;
}

/**
 * S3 lists keys in byte order, so the keys under one directory come together: a
 * directory is complete once a key outside it arrives. The open directories are the
 * chain from the root to the directory of the last key; a key that leaves part of that
 * chain closes (seals) the part it left.
 *
 * What a delimiter listing of each directory would show, with the same rules: a
 * directory shadows a file of the same name; a directory's own marker ("dir/") is not
 * an entry; a key with a segment that cannot be a name ("a//b", "a/./b", a segment over
 * NAME_MAX) counts as hidden in the directory where that segment starts, and nothing
 * below it is shown. A directory reached again after it was sealed (a server that does
 * not list in order) makes the merge `disordered`: its results cannot be trusted.
 */
export class SubtreeMerge {
  private readonly stack: Open[];
  private readonly sealed = new Set<string>();
  /** keys merged so far */
  keys = 0;
  /** keys and prefixes that cannot be shown, over every directory */
  hidden = 0;
  disordered = false;

  constructor(
    rootPath: string,
    private readonly rootPrefix: string,
  ) {
    this.stack = [{ name: '', path: rootPath, dir: emptyDirectory() }];
  }

  /** Adds one page's keys; returns the directories they completed. */
  addPage(objects: readonly ObjectInfo[]): SealedDir[] {
    const out: SealedDir[] = [];
    for (const o of objects) this.addKey(o, out);
    return out;
  }

  /** The listing ended: every directory still open is complete, the root last. */
  finish(): SealedDir[] {
    const out: SealedDir[] = [];
    while (this.stack.length > 0) out.push(this.seal(this.stack.pop() as Open));
    return out;
  }

  /** the directory of the last key */
  private top(): Open {
    return this.stack[this.stack.length - 1] as Open;
  }

  private seal(o: Open): SealedDir {
    this.sealed.add(o.path);
    this.hidden += o.dir.hidden;
    return { path: o.path, dir: o.dir };
  }

  private addKey(o: ObjectInfo, out: SealedDir[]): void {
    this.keys++;
    if (!o.key.startsWith(this.rootPrefix)) {
      (this.stack[0] as Open).dir.hidden++; // not below the root: a server's mistake
      return;
    }
    const segs = o.key.slice(this.rootPrefix.length).split('/');
    // the directories of this key that are open already
    let depth = 0;
    while (depth < segs.length - 1 && this.stack[depth + 1]?.name === segs[depth]) depth++;
    while (this.stack.length > depth + 1) out.push(this.seal(this.stack.pop() as Open));
    for (let i = depth; i < segs.length - 1; i++) {
      const name = segs[i] as string;
      const parent = this.top();
      if (!isShowableName(name)) {
        parent.dir.hidden++;
        return;
      }
      parent.dir.entries.set(name, { kind: 'dir' }); // a directory shadows a file
      const path = joinPath(parent.path, name);
      if (this.sealed.has(path)) this.disordered = true;
      this.stack.push({ name, path, dir: emptyDirectory() });
    }
    const name = segs[segs.length - 1] as string;
    const dir = this.top().dir;
    if (name === '') return; // the directory's own marker ("dir/"), or the root's
    if (!isShowableName(name)) {
      dir.hidden++;
      return;
    }
    if (dir.entries.get(name)?.kind === 'dir') return;
    dir.entries.set(name, { kind: 'file', size: o.size, mtimeMs: o.lastModifiedMs, etag: o.etag });
  }
}
