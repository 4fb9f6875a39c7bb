// SmallFiles: tells the small-file look-ahead (read/lookahead.ts) which file of a listed
// directory was opened, with that listing as it sees it: names in listing order, and
// which are small files and at which version (the listing's ETag, never a guess).
import type { MetadataCache, Node } from '../meta/metadata.js';
import { baseName, fileKey, joinPath, parentPath } from '../meta/paths.js';
import type { ListedFiles, SmallFileLookahead } from '../read/lookahead.js';
import type { ObjectVersion } from '../read/block-fetcher.js';
import { versionOf } from './object-handles.js';

export interface SmallFilesOptions {
  meta: MetadataCache;
  lookahead: SmallFileLookahead;
  prefix: string;
  /** a small file fits in one block */
  blockBytes: number;
  cacheScope?: string;
}

export class SmallFiles {
  /** by listing (the metadata cache's entries map): a new listing is a new view */
  private readonly views = new WeakMap<ReadonlyMap<string, Node>, ListedFiles>();

  constructor(private readonly o: SmallFilesOptions) {}

  /** `path` was opened for reading. */
  opened(path: string): void {
    const dir = parentPath(path);
    const entries = this.o.meta.listed(dir);
    if (!entries) return; // not listed (opened by name): nothing says what comes next
    let view = this.views.get(entries);
    if (!view) this.views.set(entries, (view = this.view(dir, entries)));
    this.o.lookahead.opened(dir, view, baseName(path));
  }

  private view(dir: string, entries: ReadonlyMap<string, Node>): ListedFiles {
    const names = [...entries.keys()];
    const index = new Map(names.map((n, i) => [n, i]));
    const { prefix, blockBytes, cacheScope } = this.o;
    return {
      names,
      index,
      smallFileAt: (i: number): ObjectVersion | undefined => {
        const name = names[i];
        // looked up now: an entry this mount replaced since is fetched at its new version
        const n = name === undefined ? undefined : entries.get(name);
        if (n?.kind !== 'file' || n.size === 0 || n.size > blockBytes || n.etag === '') return undefined;
        return versionOf(fileKey(prefix, joinPath(dir, name as string)), n, cacheScope);
      },
    };
  }
}
