// What listing metadata costs in memory, per entry, and how the metadata share of
// --memory-limit is split between the caches that hold it. Pure; numbers measured here.

/**
 * JavaScript heap per entry of a cached listing, beyond its name's characters: the Map
 * slot, the Node object with size, mtime and ETag (the ETag's 34 characters included).
 * Measured with `node --expose-gc`: 100,000 entries of 8-character names took 14.2 MB
 * of heap once listed and cached (142 bytes each; 321 while every entry was also copied
 * into the per-path stat cache); rounded up for longer ETags and the page being parsed.
 */
export const JS_LISTED_ENTRY_BYTES = 200;

/**
 * The native attribute table (native/fuse-native/s3m-attrs.h) per entry, beyond its
 * path's bytes: the struct with its `struct stat` (168 bytes on x86_64) and malloc's
 * header and rounding.
 */
export const NATIVE_ATTR_ENTRY_BYTES = 200;

/** A path's length assumed when the native table's entry count is planned (bytes). */
export const NATIVE_ATTR_PATH_BYTES = 56;

/** A cached stat or negative entry of one path (lookups by name), beyond the path's characters. */
export const JS_PATH_ENTRY_BYTES = 160;

/** Bytes charged for one entry of a cached listing. */
export function listedEntryBytes(name: string): number {
  return JS_LISTED_ENTRY_BYTES + 2 * name.length;
}

/** Bytes charged for one cached stat or negative entry of `path`. */
export function pathEntryBytes(path: string): number {
  return JS_PATH_ENTRY_BYTES + 2 * path.length;
}

/**
 * The metadata share of the memory budget, split: cached listings get 7/16 (a listing
 * larger than that is handed out page by page and not kept), the stats and negative
 * entries of single lookups 1/32 each, and the native attribute table (getattr of listed
 * names on the FUSE threads) half, as an entry count.
 */
export interface MetadataPlan {
  listingBytes: number;
  statBytes: number;
  negativeBytes: number;
  nativeAttrEntries: number;
}

export function planMetadata(metadataBytes: number): MetadataPlan {
  return {
    listingBytes: Math.floor((metadataBytes * 7) / 16),
    statBytes: Math.floor(metadataBytes / 32),
    negativeBytes: Math.floor(metadataBytes / 32),
    nativeAttrEntries: Math.max(
      1,
      Math.floor(metadataBytes / 2 / (NATIVE_ATTR_ENTRY_BYTES + NATIVE_ATTR_PATH_BYTES)),
    ),
  };
}
