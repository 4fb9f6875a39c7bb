// statfs (df): from the bucket's usage and quotas when the server tells them (Ceph RGW's
// HeadBucket headers), cached for --metadata-ttl; otherwise "very large", as before.
import type { Logger } from '../log/logger.js';
import type { BucketUsage } from '../s3/store.js';
import type { Clock } from '../util/clock.js';
import { SingleFlight } from '../util/single-flight.js';

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

/** fuse-native passes statfs fields as uint32: every count must fit */
const MAX_U32 = 0xffffffff;
/** the block unit df counts in, doubled until the size fits in 32 bits */
const STATFS_BLOCK_BYTES = 4096;
const NAME_MAX = 255;

/** No capacity known: "very large" (16 TiB of 4 KiB blocks, 2^32-1 files), nothing used. */
export const LARGE_STATFS: StatFs = {
  bsize: STATFS_BLOCK_BYTES,
  frsize: STATFS_BLOCK_BYTES,
  blocks: MAX_U32,
  bfree: MAX_U32,
  bavail: MAX_U32,
  files: MAX_U32,
  ffree: MAX_U32,
  favail: MAX_U32,
  namemax: NAME_MAX,
};

/**
 * df's numbers for a usage: used = the bytes and objects the server counts; size = the
 * quota when one is set, else "very large" as without usage (but at least what is used).
 */
export function statfsFromUsage(u: BucketUsage | undefined): StatFs {
  if (!u) return LARGE_STATFS;
  const sizeBytes = Math.max(u.quotaBytes ?? MAX_U32 * STATFS_BLOCK_BYTES, u.bytesUsed);
  let unit = STATFS_BLOCK_BYTES;
  while (Math.ceil(sizeBytes / unit) > MAX_U32) unit *= 2;
  const blocks = Math.ceil(sizeBytes / unit);
  const free = Math.max(0, blocks - Math.ceil(u.bytesUsed / unit));
  const files = Math.min(MAX_U32, Math.max(u.quotaObjects ?? MAX_U32, u.objectCount));
  const ffree = Math.max(0, files - u.objectCount);
  return {
    bsize: unit,
    frsize: unit,
    blocks,
    bfree: free,
    bavail: free,
    files,
    ffree,
    favail: ffree,
    namemax: NAME_MAX,
  };
}

export interface StatfsCacheOptions {
  /** the store's usage(); undefined when the store cannot tell */
  usage: ((signal?: AbortSignal) => Promise<BucketUsage | undefined>) | undefined;
  clock: Clock;
  ttlMs: number;
  logger: Logger;
}

/** The last usage, asked again once older than the TTL; a failure keeps the last answer. */
export class StatfsCache {
  private last: { atMs: number; statfs: StatFs } | undefined;
  private readonly flight = new SingleFlight<StatFs>();

  constructor(private readonly o: StatfsCacheOptions) {}

  async get(): Promise<StatFs> {
    const usage = this.o.usage;
    if (!usage) return LARGE_STATFS;
    if (this.last && this.o.clock.nowMs() - this.last.atMs < this.o.ttlMs) return this.last.statfs;
    return this.flight.run('usage', async () => {
      try {
        const statfs = statfsFromUsage(await usage());
        this.last = { atMs: this.o.clock.nowMs(), statfs };
        return statfs;
      } catch (err) {
        // df must not fail because S3 is slow or down: the last answer (or "very large") stands
        this.o.logger.warn('cannot read the bucket usage for statfs', {
          error: err instanceof Error ? err.message : String(err),
        });
        return this.last?.statfs ?? LARGE_STATFS;
      }
    });
  }
}
