// HiddenFiles: libfuse's high-level API keeps a file that is unlinked or renamed over while
// open by renaming it to ".fuse_hiddenXXXXXXXXYYYYYYYY" and unlinking that name at its last
// release. Here such a rename is the unlink it stands for, never a copy in S3 (docs/SEMANTICS.md).
import type { Node } from '../meta/metadata.js';
import { baseName } from '../meta/paths.js';

/** libfuse's hidden_name(): ".fuse_hidden%08x%08x" (directory node id, counter) */
const HIDDEN_NAME = /^\.fuse_hidden[0-9a-f]{16}$/;

export function isHiddenName(path: string): boolean {
  return HIDDEN_NAME.test(baseName(path));
}

/** Names libfuse hid open files under, with what stat shows for them until their last release. */
export class HiddenFiles {
  private readonly byPath = new Map<string, () => Node>();

  add(path: string, node: () => Node): void {
    this.byPath.set(path, node);
  }

  /** What stat shows for a hidden name; undefined if libfuse did not hide anything there. */
  get(path: string): Node | undefined {
    return this.byPath.get(path)?.();
  }

  /** libfuse unlinks the name at the last release: true if it was one of ours. */
  delete(path: string): boolean {
    return this.byPath.delete(path);
  }
}
