// Directory listing merge: turns ListObjectsV2 pages (delimiter "/") into directory
// entries. Pure. Rules are documented in docs/SEMANTICS.md ("Directories").
import type { ListPage, ObjectInfo } from '../s3/store.js';
import { attrsFromMetadata, isSymlinkMode, type FileAttrs } from './attrs.js';
import { isShowableName } from './paths.js';

/**
 * What is known of one path. `attrs` holds attributes from object metadata: present
 * (maybe empty) when a HEAD or this mount's own write told them, absent when the node
 * came from a listing, which carries no metadata.
 */
export type Node =
  | { kind: 'dir'; attrs?: FileAttrs }
  | {
      kind: 'file' | 'symlink';
      size: number;
      mtimeMs: number;
      etag: string;
      attrs?: FileAttrs;
      /** the object's whole user metadata, when known (HEAD or this mount's write) */
      metadata?: Record<string, string>;
    };

export interface Directory {
  entries: Map<string, Node>;
  /** keys/prefixes that exist under this directory but cannot be shown */
  hidden: number;
}

export function emptyDirectory(): Directory {
  return { entries: new Map(), hidden: 0 };
}

/**
 * Adds one page of a listing of `prefix` to `dir`; a sub-directory shadows a same-named
 * file. Returns the names it added or changed.
 */
export function mergePage(dir: Directory, prefix: string, page: ListPage): string[] {
  const names: string[] = [];
  for (const p of page.prefixes) {
    const name = p.slice(prefix.length, -1);
    if (!p.startsWith(prefix) || !isShowableName(name)) {
      dir.hidden++;
      continue;
    }
    dir.entries.set(name, { kind: 'dir' });
    names.push(name);
  }
  for (const o of page.objects) {
    if (o.key === prefix) continue; // the directory's own marker object ("dir/")
    const name = o.key.slice(prefix.length);
    if (!o.key.startsWith(prefix) || !isShowableName(name)) {
      dir.hidden++;
      continue;
    }
    const existing = dir.entries.get(name);
    if (existing?.kind === 'dir') continue; // directories shadow files
    dir.entries.set(name, { kind: 'file', size: o.size, mtimeMs: o.lastModifiedMs, etag: o.etag });
    names.push(name);
  }
  return names;
}

/**
 * Whether a file named `name` that a listing of `prefix` has shown so far may still be
 * shadowed by a directory "name/" on a later page: later pages hold only what sorts after
 * the page's last key and last prefix, and what sorts between "name" and "name/" starts
 * with "name".
 */
export function mayBeShadowedLater(prefix: string, page: ListPage, name: string): boolean {
  const lastKey = page.objects.at(-1)?.key;
  const lastPrefix = page.prefixes.at(-1);
  const full = prefix + name;
  return (
    (lastKey !== undefined && lastKey.startsWith(full)) ||
    (lastPrefix !== undefined && lastPrefix.startsWith(full))
  );
}

/** What a HEAD tells of an object. */
export function nodeFromHead(info: ObjectInfo): Node {
  const attrs = attrsFromMetadata(info.metadata);
  return {
    kind: isSymlinkMode(attrs.mode) ? 'symlink' : 'file',
    size: info.size,
    mtimeMs: info.lastModifiedMs,
    etag: info.etag,
    attrs,
    metadata: info.metadata ?? {},
  };
}

/**
 * A listing carries no metadata: keep the attributes already known for the same object
 * version (same ETag; directories have none), so a re-listing does not forget them.
 */
export function keepKnownAttrs(listed: Node, known: Node | undefined): Node {
  if (!known?.attrs || listed.attrs !== undefined) return listed;
  if (listed.kind === 'dir') return known.kind === 'dir' ? { ...listed, attrs: known.attrs } : listed;
  if (known.kind === 'dir' || known.etag === '' || known.etag !== listed.etag) return listed;
  return { ...listed, kind: known.kind, attrs: known.attrs };
}

/**
 * Hands a listing's entries out as its pages arrive: each name once (a server may repeat
 * one), and a file that a later page may still turn into a directory held back until that
 * page has come. `known` completes a listed node with attributes known from elsewhere.
 */
export class PageStream {
  private held: string[] = [];
  private readonly shown = new Set<string>();

  constructor(
    private readonly dir: Directory,
    private readonly prefix: string,
    private readonly onEntries: (entries: Array<[string, Node]>) => void,
    private readonly known: (name: string, listed: Node) => Node,
  ) {}

  /** `names`: what mergePage took in from `page`; `more`: another page follows */
  page(page: ListPage, names: string[], more: boolean): void {
    const ready: Array<[string, Node]> = [];
    const hold: string[] = [];
    for (const name of new Set([...this.held, ...names])) {
      if (this.shown.has(name)) continue;
      const node = this.dir.entries.get(name) as Node;
      if (more && node.kind !== 'dir' && mayBeShadowedLater(this.prefix, page, name)) {
        hold.push(name);
      } else {
        this.shown.add(name);
        ready.push([name, this.known(name, node)]);
      }
    }
    this.held = hold;
    if (ready.length > 0) this.onEntries(ready);
  }
}
