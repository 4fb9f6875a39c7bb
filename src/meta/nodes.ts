// What a HEAD tells of a node, and what a listing (which carries no metadata) keeps of
// the attributes already known for the same object version.
import type { ObjectInfo } from '../s3/store.js';
import { attrsFromMetadata, isSymlinkMode } from './attrs.js';
import type { Node } from './listing.js';

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
