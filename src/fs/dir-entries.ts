// A directory's entries as readdir hands them to FUSE: ".", "..", the files written here
// and not yet uploaded, then S3's listing, each name once, with its attributes (the kernel
// takes each entry's type from them, so `find` need not stat every file).
import type { MetadataCache, Node } from '../meta/metadata.js';
import { joinPath } from '../meta/paths.js';
import type { Attr, DirEntry } from './attr.js';
import { synced } from './open-file.js';
import type { OpenFiles } from './open-files.js';

export interface DirEntriesOptions {
  meta: MetadataCache;
  openFiles: OpenFiles;
  attr(n: Node): Attr;
}

/**
 * The entries of directory `path` (node `dir`), handed to `onEntries` as they become known
 * (page by page while S3 lists the directory).
 */
export async function streamDirEntries(
  o: DirEntriesOptions,
  path: string,
  dir: Node,
  onEntries: (entries: DirEntry[]) => void,
): Promise<void> {
  const self = o.attr(dir);
  const local = new Set<string>();
  const first: DirEntry[] = [
    { name: '.', attr: self },
    { name: '..', attr: self },
  ];
  for (const name of o.openFiles.childrenOf(path)) {
    const of = o.openFiles.get(joinPath(path, name));
    if (!of) continue;
    local.add(name);
    first.push({ name, attr: o.attr(o.openFiles.nodeOf(synced(of))) }); // written, not yet uploaded
  }
  onEntries(first);
  await o.meta.list(path, (listed) => {
    const entries: DirEntry[] = [];
    for (const [name, node] of listed) if (!local.has(name)) entries.push({ name, attr: o.attr(node) });
    if (entries.length > 0) onEntries(entries);
  });
}
