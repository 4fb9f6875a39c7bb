// Composition root: builds the store, caches, filesystem and FUSE mount for one
// MountConfig and hands back a running Daemon. No option parsing, no process exit.
import type { MountConfig } from './config/config.js';
import { mountFuse, type MountedFuse } from './fuse/adapter.js';
import { S3FileSystem } from './fs/filesystem.js';
import type { Logger, Redactor } from './log/logger.js';
import { MetadataCache } from './meta/metadata.js';
import { BlockCache } from './read/block-cache.js';
import { BlockFetcher } from './read/block-fetcher.js';
import { SdkObjectStore } from './s3/sdk-store.js';
import { systemClock } from './util/clock.js';
import { Semaphore } from './util/semaphore.js';

export interface Daemon {
  fs: S3FileSystem;
  unmount(): Promise<void>;
  /** releases S3 connections; after unmount */
  close(): void;
  stats(): Record<string, unknown>;
}

/** fuse-native fails an op it has waited on this long beyond the core's own deadline. */
const FUSE_TIMEOUT_MARGIN_MS = 10_000;

export function buildStore(cfg: MountConfig): SdkObjectStore {
  return new SdkObjectStore({
    bucket: cfg.bucket,
    ...(cfg.endpoint !== undefined ? { endpoint: cfg.endpoint } : {}),
    region: cfg.region,
    pathStyle: cfg.pathStyle,
    ...(cfg.profile !== undefined ? { profile: cfg.profile } : {}),
    requestDeadlineMs: cfg.requestTimeoutMs,
    connectTimeoutMs: cfg.connectTimeoutMs,
    maxSockets: cfg.maxRequests + 8,
    maxAttempts: 3,
  });
}

/** Checks the bucket answers with these credentials; throws StoreError otherwise. */
export async function checkAccess(store: SdkObjectStore, redactor: Redactor): Promise<void> {
  const creds = await store.accessKeyForRedaction();
  redactor.add(creds?.secretAccessKey);
  await store.checkBucket();
}

export async function startDaemon(cfg: MountConfig, store: SdkObjectStore, logger: Logger): Promise<Daemon> {
  const clock = systemClock;
  const requests = new Semaphore(cfg.maxRequests);
  const meta = new MetadataCache({
    store,
    prefix: cfg.prefix,
    clock,
    logger: logger.child({ mod: 'meta' }),
    ttlMs: cfg.metadataTtlMs,
    negativeTtlMs: cfg.negativeTtlMs,
  });
  const cache = new BlockCache(cfg.cacheBytes);
  const fetcher = new BlockFetcher({
    store,
    cache,
    requests,
    blockBytes: cfg.blockBytes,
    requestBytes: cfg.requestBytes,
    logger: logger.child({ mod: 'read' }),
  });
  // keep prefetch within a quarter of the cache, so prefetched blocks are not evicted unread
  const readAheadBytes = Math.min(cfg.readAheadBytes, Math.floor(cfg.cacheBytes / 4));
  const fs = new S3FileSystem({
    meta,
    fetcher,
    prefix: cfg.prefix,
    logger: logger.child({ mod: 'fs' }),
    uid: cfg.uid,
    gid: cfg.gid,
    fileMode: cfg.fileMode,
    dirMode: cfg.dirMode,
    readOnly: cfg.readOnly,
    readAheadBytes,
    mountTimeMs: clock.nowMs(),
  });
  const mounted: MountedFuse = await mountFuse(
    fs,
    {
      mountpoint: cfg.mountpoint,
      fsname: `s3mount:${cfg.bucket}`,
      allowOther: cfg.allowOther,
      opTimeoutMs: 2 * cfg.requestTimeoutMs + FUSE_TIMEOUT_MARGIN_MS,
    },
    logger,
  );
  return {
    fs,
    unmount: () => mounted.unmount(),
    close: () => store.destroy(),
    stats: () => ({ requests: { ...store.requestCounts }, meta: meta.counters, cache: cache.counters, fetch: fetcher.counters, cachedBytes: cache.cachedBytes }),
  };
}
