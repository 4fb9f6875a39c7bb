// Renames: rename(2) through the mount, including libfuse's hiding of open files that are
// unlinked or renamed over (a rename to ".fuse_hidden…" is the unlink it stands for).
import type { MetadataCache, Node } from '../meta/metadata.js';
import { fsError } from './errno.js';
import { HiddenFiles, isHiddenName } from './hidden-files.js';
import type { Namespace } from './namespace.js';
import type { ObjectHandles } from './object-handles.js';
import { synced } from './open-file.js';
import type { OpenFiles } from './open-files.js';

export interface RenamesOptions {
  meta: MetadataCache;
  openFiles: OpenFiles;
  namespace: Namespace;
  objects: ObjectHandles;
}

export class Renames {
  /** names libfuse hid open files under, with what stat shows for them */
  readonly hidden = new HiddenFiles();

  constructor(private readonly o: RenamesOptions) {}

  /** rename(2) of a checked, writable path (S3FileSystem checks both names first) */
  async rename(from: string, to: string): Promise<void> {
    const of = this.o.openFiles.get(from);
    if (of) synced(of);
    // a directory whose only entries are files written here and not yet uploaded
    if (this.o.openFiles.childrenOf(to).length > 0)
      throw fsError('ENOTEMPTY', 'target directory not empty', { path: to });
    if (isHiddenName(to)) return this.hide(from, to);
    await this.o.openFiles.beforeRename(from);
    // an open of `to` the kernel began before the rename is of the file it replaces (its
    // inode, its size) but may reach here by name after it: it gets the file renamed onto
    // it (marked before the rename records it, so that no open sees the one without the other)
    if ((await this.o.meta.lookup(to))?.kind === 'file') this.o.objects.goneHere(to);
    const file = await this.o.namespace.rename(from, to);
    await this.o.openFiles.renamed(from, to);
    // read handles follow their file: to the copy, if it has their version's ETag
    this.o.objects.renamed(from, to, (h) =>
      file === undefined
        ? h.reader.object.etag
        : file.etagAfter === h.reader.object.etag
          ? file.etagAfter
          : undefined,
    );
  }

  /**
   * libfuse renames a file unlinked or renamed over while open to a hidden name, and
   * unlinks that at its last release: here that is the unlink itself (the object goes,
   * open handles keep what they read), not a copy in S3, and it works whether or not
   * another client already deleted the object.
   */
  private async hide(path: string, hiddenAs: string): Promise<void> {
    const of = this.o.openFiles.get(path);
    // stat on the hidden name shows what its open descriptors read: the kernel cuts their
    // reads at that size (what the cache knows of the name may be another version)
    const held = of ? undefined : this.o.objects.heldVersion(path);
    const known = of || held ? undefined : await this.o.meta.lookup(path);
    this.o.objects.goneHere(path);
    await this.o.namespace.removeObject(path); // DeleteObject of a missing key succeeds
    await this.o.openFiles.unlinked(path);
    this.o.objects.unlinked(path);
    const gone: Node = held ?? known ?? { kind: 'file', size: 0, mtimeMs: Date.now(), etag: '' };
    this.hidden.add(hiddenAs, of ? () => this.o.openFiles.nodeOf(of) : () => gone);
  }
}
