// Part planning for multipart uploads and copies: part size grows so that objects up
// to S3's 5 TiB limit fit in 10,000 parts. Pure.

export const MIB = 1024 * 1024;
/** S3's smallest part (all but the last); Ceph RGW rejects smaller ones at completion */
export const MIN_PART_BYTES = 5 * MIB;
export const MAX_PARTS = 10_000;
/** S3's largest object */
export const MAX_OBJECT_BYTES = 5 * 1024 * 1024 * MIB;

export interface PartRange {
  partNumber: number;
  start: number;
  /** exclusive */
  end: number;
}

/** The part size for an object of `size` bytes: at least `preferred`, a whole MiB. */
export function partSizeFor(size: number, preferred: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  const bytes = Math.max(preferred, MIN_PART_BYTES, needed);
  return Math.ceil(bytes / MIB) * MIB;
}

export function planParts(size: number, partBytes: number): PartRange[] {
  const parts: PartRange[] = [];
  for (let start = 0, n = 1; start < size; start += partBytes, n++) {
    parts.push({ partNumber: n, start, end: Math.min(size, start + partBytes) });
  }
  return parts;
}
