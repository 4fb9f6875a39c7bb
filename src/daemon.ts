// Composition root: builds the store, caches, filesystem and FUSE mount for one
// MountConfig and hands back a running Daemon. No option parsing, no process exit.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { MountConfig } from './config/config.js';
import { Namespace } from './fs/namespace.js';
import { OpenFiles } from './fs/open-files.js';
import { mountFuse, type MountedFuse } from './fuse/adapter.js';
import { S3FileSystem } from './fs/filesystem.js';
import type { Logger, Redactor } from './log/logger.js';
import { MetadataCache } from './meta/metadata.js';
import { BlockCache } from './read/block-cache.js';
import { BlockFetcher } from './read/block-fetcher.js';
import { FastReads } from './read/fast-reads.js';
import { loadNativeFastPaths, type NativeFastPaths } from './fuse/native.js';
import { SdkObjectStore } from './s3/sdk-store.js';
import { systemClock } from './util/clock.js';
import { Semaphore } from './util/semaphore.js';
import { NativeWrites } from './write/native-writes.js';
import { EagerUpload } from './write/eager-upload.js';
import { StagingArea } from './write/staging.js';
import { UploadQueue, type ParkedUpload } from './write/upload-queue.js';
import { PartBuffers } from './write/part-buffers.js';
import { Uploader } from './write/uploader.js';

export interface Daemon {
  fs: S3FileSystem;
  unmount(): Promise<void>;
  /** waits until every staged write is in S3 (retrying); after unmount. Parked files are not waited for */
  drain(onWait: (pending: number) => void): Promise<void>;
  /** staged files whose upload failed in a way retrying cannot fix; they stay staged */
  parked(): ParkedUpload[];
  /** releases S3 connections and stops retries; after unmount (and drain) */
  close(): void;
  stats(): Record<string, unknown>;
}

/** failed uploads are retried after 1 s, 2 s, 4 s ... at most every minute, until they succeed or fail for good */
const UPLOAD_RETRY_BASE_MS = 1000;
const UPLOAD_RETRY_MAX_MS = 60_000;

function fastPathStats(served: { reads: number; bytes: number; writes: number; writtenBytes: number }): Record<string, number> {
  return { fastReads: served.reads, fastReadBytes: served.bytes, fastWrites: served.writes, fastWriteBytes: served.writtenBytes };
}

/**
 * Most prefetch GETs in flight at once, whatever the memory allows. More only made each
 * one slower here: with 16, 8 readers' requests finished out of order, readers waited
 * on their nearest block while blocks further ahead arrived and were evicted unread
 * (8 readers: 183 MB/s median at 16 in flight, 205 at 8 and 4; one reader: the same).
 */
export const PREFETCH_REQUESTS_MAX = 8;

export interface MemoryPlan {
  cacheBytes: number;
  /** prefetch GETs in flight at once: each holds up to request-size bytes */
  getSlots: number;
  /** upload parts in flight at once, over all files: each holds a part in memory */
  partSlots: number;
}

/**
 * Splits --memory-limit: the block cache (half, or --cache-size), ranged GETs in flight
 * (a quarter, at most PREFETCH_REQUESTS_MAX of them) and upload parts in flight (a
 * quarter), at least one of each.
 */
export function planMemory(cfg: Pick<MountConfig, 'memoryLimitBytes' | 'cacheBytes' | 'requestBytes' | 'partBytes'>): MemoryPlan {
  const quarter = Math.floor(cfg.memoryLimitBytes / 4);
  return {
    cacheBytes: cfg.cacheBytes,
    getSlots: Math.max(1, Math.min(PREFETCH_REQUESTS_MAX, Math.floor(quarter / cfg.requestBytes))),
    partSlots: Math.max(1, Math.floor(quarter / cfg.partBytes)),
  };
}

/** Names a mount's staging subdirectory: the same endpoint, bucket and prefix find it again. */
export function mountId(cfg: MountConfig): string {
  const h = createHash('sha256').update(`${cfg.endpoint ?? `aws:${cfg.region}`}\n${cfg.bucket}\n${cfg.prefix}`).digest('hex').slice(0, 16);
  return `${cfg.bucket}-${h}`;
}

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

/** The fast paths, or a one-line error naming why they cannot be used and the way out. */
function nativeFastPaths(): NativeFastPaths {
  try {
    return loadNativeFastPaths();
  } catch (err) {
    throw new Error(`the native fast paths cannot be used: ${err instanceof Error ? err.message : String(err)} (or mount with --no-native)`, { cause: err });
  }
}

export async function startDaemon(cfg: MountConfig, store: SdkObjectStore, logger: Logger): Promise<Daemon> {
  const clock = systemClock;
  const requests = new Semaphore(cfg.maxRequests);
  const memory = planMemory(cfg);
  logger.info('memory plan', { limitBytes: cfg.memoryLimitBytes, ...memory });
  const native = cfg.native ? nativeFastPaths() : undefined;
  if (!native) logger.info('--no-native: every FUSE operation runs in JavaScript');
  const meta = new MetadataCache({
    store,
    prefix: cfg.prefix,
    clock,
    logger: logger.child({ mod: 'meta' }),
    ttlMs: cfg.metadataTtlMs,
    negativeTtlMs: cfg.negativeTtlMs,
    // the native attribute cache holds copies of listed entries: it drops with any change
    ...(native ? { onChange: () => native.attrs.invalidate() } : {}),
  });
  const cache = new BlockCache(memory.cacheBytes, cfg.blockBytes, native?.reads);
  const fastReads = native ? new FastReads(native.reads, cache) : undefined;
  const nativeWrites = native ? new NativeWrites(native.writes) : undefined;
  const id = mountId(cfg);
  const fetcher = new BlockFetcher({
    store,
    cache,
    requests,
    getSlots: new Semaphore(memory.getSlots),
    blockBytes: cfg.blockBytes,
    requestBytes: cfg.requestBytes,
    // prefetched blocks live in the cache until read: let them fill at most half of it
    prefetchBudgetBytes: Math.floor(memory.cacheBytes / 2),
    logger: logger.child({ mod: 'read' }),
  });
  const staging = new StagingArea(join(cfg.stagingDir, id), id, logger.child({ mod: 'staging' }));
  await staging.init();
  const parts = new PartBuffers(memory.partSlots, cfg.partBytes);
  const uploader = new Uploader({ store, requests, parts, partBytes: cfg.partBytes, partConcurrency: cfg.uploadConcurrency, copyThresholdBytes: cfg.copyThresholdBytes, logger: logger.child({ mod: 'upload' }) });
  const openFiles = new OpenFiles({ staging, store, meta, prefix: cfg.prefix, writeBack: cfg.writeBack, logger: logger.child({ mod: 'write' }), uid: cfg.uid, gid: cfg.gid,
    startEager: (staged) => new EagerUpload(staged, cfg.partBytes, { store, requests, parts, logger: logger.child({ mod: 'upload' }) }),
  });
  const queue = new UploadQueue({
    uploader,
    logger: logger.child({ mod: 'upload' }),
    onUploaded: (file, result) => openFiles.onUploaded(file, result),
    retryBaseMs: UPLOAD_RETRY_BASE_MS,
    retryMaxMs: UPLOAD_RETRY_MAX_MS,
    pathOf: (file) => openFiles.pathOf(file),
  });
  openFiles.attachQueue(queue);
  const namespace = new Namespace({
    store,
    meta,
    prefix: cfg.prefix,
    requests,
    copy: { store, requests, thresholdBytes: cfg.copyThresholdBytes, partBytes: cfg.partBytes, partConcurrency: cfg.uploadConcurrency },
    logger: logger.child({ mod: 'namespace' }),
  });
  // keep prefetch within a quarter of the cache, so prefetched blocks are not evicted unread
  const readAheadBytes = Math.min(cfg.readAheadBytes, Math.floor(cfg.cacheBytes / 4));
  const fs = new S3FileSystem({
    meta,
    fetcher,
    ...(fastReads ? { fastReads } : {}),
    ...(nativeWrites ? { nativeWrites } : {}),
    openFiles,
    namespace,
    objectMetadata: cfg.objectMetadata,
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
      ...(native && cfg.metadataTtlMs > 0 && !cfg.objectMetadata ? { attrs: { fast: native.attrs, ttlMs: cfg.metadataTtlMs } } : {}),
      ...(native ? { dirs: native.dirs } : {}),
    },
    logger,
  );
  const recovered = await openFiles.recover();
  if (recovered > 0) logger.warn('found files staged by an earlier run; uploading them', { count: recovered });
  return {
    fs,
    unmount: () => mounted.unmount(),
    drain: (onWait) => queue.drain(onWait),
    parked: () => queue.parked(),
    close: () => {
      queue.stop();
      store.destroy();
    },
    stats: () => ({
      requests: { ...store.requestCounts },
      listPagesParsed: { ...store.listPagesParsed },
      upload: uploader.counters,
      meta: meta.counters,
      cache: cache.counters,
      fetch: fetcher.counters,
      cachedBytes: cache.cachedBytes,
      ...(native ? fastPathStats(native.served()) : {}),
    }),
  };
}
