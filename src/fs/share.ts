// Share links (`s3mount share`): a mount path is resolved to the bucket filesystem that
// holds it, checked (a regular file whose current data is in S3) and presigned.
import type { Logger } from '../log/logger.js';
import { S_IFDIR, S_IFMT, S_IFREG } from '../meta/attrs.js';
import { fileKey } from '../meta/paths.js';
import { isStoreError } from '../s3/errors.js';
import type { ObjectStore } from '../s3/store.js';
import { FsError } from './errno.js';
import type { S3FileSystem } from './filesystem.js';
import type { PendingUploads } from './pending-uploads.js';

/** What holds a mount path's object: one bucket's filesystem, and the path inside it. */
export interface ShareSite {
  fs: Pick<S3FileSystem, 'getattr'>;
  pending: Pick<PendingUploads, 'isStaged'>;
  store: Pick<ObjectStore, 'bucket' | 'head' | 'presignGet'>;
  /** the key prefix of that filesystem in its bucket ('' or "p/") */
  prefix: string;
  /** the path inside that filesystem ("/a/b") */
  path: string;
}

/**
 * A mount path ("/a/b", relative to the mount point) → its site. The one place that knows
 * how a mount's paths map to buckets: a single-bucket mount has one site for every path;
 * a mount of several buckets takes the bucket from the first component. `undefined`: the
 * path is a directory no bucket holds (the root of such a mount).
 */
export type ResolveShareSite = (mountPath: string) => ShareSite | undefined | Promise<ShareSite | undefined>;

export type ShareAnswer = { url: string; bucket: string; key: string } | { error: string };

/** A presigned GET URL for the file at `mountPath`, or the one-line reason there is none. */
export async function shareLink(
  resolve: ResolveShareSite,
  mountPath: string,
  expiresSec: number,
): Promise<ShareAnswer> {
  const site = await resolve(mountPath);
  if (!site) return { error: 'is a directory' };
  // staged data is newer than the object (or there is no object yet): a link would give
  // other bytes than the file, or none
  if (site.pending.isStaged(site.path))
    return {
      error:
        'is not in S3 yet: it is still staged (written, upload pending); try again once `s3mount sync` returns',
    };
  let mode: number;
  try {
    mode = (await site.fs.getattr(site.path)).mode;
  } catch (err) {
    if (err instanceof FsError && err.code === 'ENOENT') return { error: 'no such file' };
    return { error: err instanceof Error ? err.message : String(err) };
  }
  if ((mode & S_IFMT) === S_IFDIR) return { error: 'is a directory' };
  if ((mode & S_IFMT) !== S_IFREG) return { error: 'is not a regular file' };
  const key = fileKey(site.prefix, site.path);
  try {
    // the object itself, not a cached listing: it may have gone since (and a HEAD
    // rejected for rotated keys makes the store ask for the new keys before signing)
    await site.store.head(key);
  } catch (err) {
    if (isStoreError(err, 'NotFound')) return { error: 'no such file in S3' };
    return { error: `cannot check it in S3: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!site.store.presignGet) return { error: 'this mount cannot make share links' };
  try {
    return { url: await site.store.presignGet(key, expiresSec), bucket: site.store.bucket, key };
  } catch (err) {
    return { error: `cannot sign a link: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** One answer per path, in order (one after the other: each costs a HEAD). */
export async function shareLinks(
  resolve: ResolveShareSite,
  mountPaths: string[],
  expiresSec: number,
  logger: Logger,
): Promise<({ path: string; url: string } | { path: string; error: string })[]> {
  const out: ({ path: string; url: string } | { path: string; error: string })[] = [];
  for (const path of mountPaths) {
    const a = await shareLink(resolve, path, expiresSec);
    if ('url' in a) {
      logger.info('share link made', { path, bucket: a.bucket, key: a.key, expiresSec });
      out.push({ path, url: a.url });
    } else {
      logger.debug('share refused', { path, reason: a.error });
      out.push({ path, error: a.error });
    }
  }
  return out;
}
