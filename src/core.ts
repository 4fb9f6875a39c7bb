// buildCore: the filesystem core (S3FileSystem with its metadata cache, block cache and
// fetcher, staging, uploader, upload queue) over any ObjectStore, without FUSE.
import { createHash } from 'node:crypto';
import type { MountConfig } from './config/config.js';
import { S3FileSystem } from './fs/filesystem.js';
import { HandleTable, type Handle } from './fs/handles.js';
import { Namespace } from './fs/namespace.js';
import { OpenFiles } from './fs/open-files.js';
import { PendingUploads } from './fs/pending-uploads.js';
import { SmallFiles } from './fs/small-files.js';
import type { ShareSite } from './fs/share.js';
import { StatfsCache } from './fs/statfs.js';
import { Verifier } from './fs/verify.js';
import type { Logger } from './log/logger.js';
import { MetadataCache } from './meta/metadata.js';
import { BlockCache, type ArenaPort } from './read/block-cache.js';
import { DiskCache } from './read/disk-cache.js';
import { DiskMap } from './read/disk-map.js';
import { BlockFetcher } from './read/block-fetcher.js';
import { FastReads } from './read/fast-reads.js';
import { SmallFileLookahead } from './read/lookahead.js';
import type { ObjectStore } from './s3/store.js';
import type { SleepClock } from './util/clock.js';
import { openFilesLimit } from './util/fd-limit.js';
import { Semaphore } from './util/semaphore.js';
import { EagerUpload } from './write/eager-upload.js';
import { NativeWrites } from './write/native-writes.js';
import { PartBuffers } from './write/part-buffers.js';
import { StagingArea } from './write/staging.js';
import type { WritePort } from './write/types.js';
import { UploadQueue, type ParkedUpload } from './write/upload-queue.js';

export type { ParkedUpload };
export { shareLink, shareLinks, type ResolveShareSite, type ShareSite } from './fs/share.js';
import { Uploader } from './write/uploader.js';

/**
 * Most prefetch GETs in flight at once, whatever the memory allows. More only made each
 * one slower here: with 16, 8 readers' requests finished out of order, readers waited
 * on their nearest block while blocks further ahead arrived and were evicted unread
 * (8 readers: 183 MB/s median at 16 in flight, 205 at 8 and 4; one reader: the same).
 */
export const PREFETCH_REQUESTS_MAX = 8;

/**
 * disk cache block files FUSE threads may read at once (each holds a descriptor; the C
 * table, S3M_DISK_MAX, has as many entries): 4 GiB of 256 KiB blocks
 */
export const DISK_MAP_MAX_FILES = 16384;
/** failed uploads are retried after 1 s, 2 s, 4 s ... at most every minute, until they succeed or fail for good */
export const UPLOAD_RETRY_BASE_MS = 1000;
export const UPLOAD_RETRY_MAX_MS = 60_000;

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
export function planMemory(
  cfg: Pick<MountConfig, 'memoryLimitBytes' | 'cacheBytes' | 'requestBytes' | 'partBytes'>,
): MemoryPlan {
  const quarter = Math.floor(cfg.memoryLimitBytes / 4);
  return {
    cacheBytes: cfg.cacheBytes,
    getSlots: Math.max(1, Math.min(PREFETCH_REQUESTS_MAX, Math.floor(quarter / cfg.requestBytes))),
    partSlots: Math.max(1, Math.floor(quarter / cfg.partBytes)),
  };
}

/**
 * What one listed key costs in the metadata cache: its node, its entry in the directory's
 * map and in the stat cache, the name, path and ETag strings. Measured: 372 bytes a key
 * (V8 heap after GC) for a walk of 100,000 keys named like tree/d00000/file-00000000.dat.
 */
export const WALK_BYTES_PER_KEY = 512;

/**
 * Most keys one directory walk's subtree listing takes in (meta/walks.ts): --recursive-list,
 * and at most what a sixteenth of --memory-limit holds (32 MiB, 65,536 keys by default).
 */
export function walkMaxKeys(cfg: Pick<MountConfig, 'recursiveListKeys' | 'memoryLimitBytes'>): number {
  return Math.min(cfg.recursiveListKeys, Math.floor(cfg.memoryLimitBytes / 16 / WALK_BYTES_PER_KEY));
}

/** look-ahead GETs of small files in flight at once (as many as the raw SDK reference keeps) */
export const LOOKAHEAD_REQUESTS = 16;

/**
 * The small-file look-ahead (--small-file-lookahead files per directory), or undefined when
 * off. All directories' files fetched ahead and not yet read stay within a quarter of the
 * block cache (each takes a block's room in the arena, whatever its size).
 */
function smallFileLookahead(
  cfg: MountConfig,
  fetcher: BlockFetcher,
  memory: MemoryPlan,
  logger: Logger,
): SmallFileLookahead | undefined {
  const filesTotal = Math.floor(memory.cacheBytes / 4 / cfg.blockBytes);
  if (cfg.smallFileLookahead <= 0 || filesTotal < 1) return undefined;
  return new SmallFileLookahead({
    fetcher,
    filesPerDir: Math.min(cfg.smallFileLookahead, filesTotal),
    filesTotal,
    concurrency: Math.min(LOOKAHEAD_REQUESTS, cfg.maxRequests),
    logger: logger.child({ mod: 'lookahead' }),
  });
}

/** Names a mount's staging subdirectory: the same endpoint, bucket and prefix find it again. */
export function mountId(cfg: MountConfig): string {
  const h = createHash('sha256')
    .update(`${cfg.endpoint ?? `aws:${cfg.region}`}\n${cfg.bucket}\n${cfg.prefix}`)
    .digest('hex')
    .slice(0, 16);
  return `${cfg.bucket}-${h}`;
}

/** The parts of the native fast paths the core itself uses (the FUSE side keeps the rest). */
export interface CoreNativePorts {
  reads: ArenaPort;
  writes: WritePort;
  /** drops the native attribute cache: called on every change the metadata cache records */
  invalidateAttrs(): void;
}

export interface CoreOptions {
  cfg: MountConfig;
  store: ObjectStore;
  logger: Logger;
  clock: SleepClock;
  /** this mount's own staging directory (the daemon: `<--staging-dir>/<mountId>`); made if missing */
  stagingDir: string;
  /** the id staged records carry: only records of this id are recovered (default: mountId(cfg)) */
  stagingId?: string;
  native?: CoreNativePorts;
  /** backoff of failed uploads (default UPLOAD_RETRY_BASE_MS .. UPLOAD_RETRY_MAX_MS) */
  uploadRetry?: { baseMs: number; maxMs: number };
  /** memory, request limit, native tables and handles shared with other cores (default: its own) */
  shared?: SharedParts;
  /** with `shared`: sets this core's blocks apart in the shared cache (a whole-account mount: the bucket) */
  cacheScope?: string;
}

/**
 * What every filesystem of one mount shares: the memory budget (block cache, GET slots,
 * part buffers), the S3 request limit, the native read/write tables and the FUSE handle
 * numbers. A single-bucket mount makes its own; a whole-account mount one for all buckets.
 */
export interface SharedParts {
  memory: MemoryPlan;
  requests: Semaphore;
  getSlots: Semaphore;
  cache: BlockCache;
  parts: PartBuffers;
  fastReads: FastReads | undefined;
  nativeWrites: NativeWrites | undefined;
  handles: HandleTable<Handle>;
}

export function buildSharedParts(cfg: MountConfig, native?: CoreNativePorts): SharedParts {
  const memory = planMemory(cfg);
  const cache = new BlockCache(memory.cacheBytes, cfg.blockBytes, native?.reads);
  return {
    memory,
    requests: new Semaphore(cfg.maxRequests),
    getSlots: new Semaphore(memory.getSlots),
    cache,
    parts: new PartBuffers(memory.partSlots, cfg.partBytes),
    fastReads: native ? new FastReads(native.reads, cache) : undefined,
    nativeWrites: native ? new NativeWrites(native.writes) : undefined,
    handles: new HandleTable<Handle>(),
  };
}

export interface Core {
  fs: S3FileSystem;
  memory: MemoryPlan;
  meta: MetadataCache;
  cache: BlockCache;
  fetcher: BlockFetcher;
  /** --cache-dir, when set */
  disk?: DiskCache;
  /** its block files FUSE threads read (--cache-dir with the native fast paths) */
  diskMap?: DiskMap;
  uploader: Uploader;
  queue: UploadQueue;
  /** what is written and not in S3 yet; the flush barrier */
  pending: PendingUploads;
  /** what `s3mount share` checks and presigns a path of this filesystem with */
  shareSite(path: string): ShareSite;
  /** `s3mount verify`: objects checked against their stored SHA-256 */
  verifier: Verifier;
  /** schedules the upload of files an earlier run left staged; how many there were */
  recover(): Promise<number>;
  /** waits until every staged write is in S3 (retrying), then for the disk cache's writes. Parked files are not waited for */
  drain(onWait?: (pending: number) => void): Promise<void>;
  /** staged files whose upload failed in a way retrying cannot fix; they stay staged */
  parked(): ParkedUpload[];
  /** stops retries (the store is the caller's to close) */
  stop(): void;
  stats(): Record<string, unknown>;
}

export async function buildCore(o: CoreOptions): Promise<Core> {
  const { cfg, store, logger, clock, native } = o;
  const shared = o.shared ?? buildSharedParts(cfg, native);
  const { memory, requests, cache, fastReads, nativeWrites, parts } = shared;
  const meta = new MetadataCache({
    store,
    prefix: cfg.prefix,
    clock,
    logger: logger.child({ mod: 'meta' }),
    ttlMs: cfg.metadataTtlMs,
    negativeTtlMs: cfg.negativeTtlMs,
    walkMaxKeys: walkMaxKeys(cfg),
    // the native attribute cache holds copies of listed entries: it drops with any change
    ...(native ? { onChange: () => native.invalidateAttrs() } : {}),
    // read handles pinned to another version of a path go stale (fs is made below, before any lookup)
    onNode: (path, node, before, local) => fs.objectChanged(path, node, before, local),
  });
  let disk: DiskCache | undefined;
  if (cfg.cacheDir !== undefined) {
    disk = new DiskCache({
      dir: cfg.cacheDir,
      maxBytes: cfg.cacheDirBytes,
      // the key space is the bucket's: one directory may serve several endpoints and buckets
      namespace: `${cfg.endpoint ?? `aws:${cfg.region}`}\n${cfg.bucket}`,
      blockBytes: cfg.blockBytes,
      logger: logger.child({ mod: 'disk-cache' }),
    });
    await disk.init();
  }
  // disk cache blocks that FUSE threads read with pread: a quarter of the descriptors at most
  const diskMap =
    disk && native
      ? new DiskMap(native.reads, cache, Math.min(DISK_MAP_MAX_FILES, Math.floor(openFilesLimit() / 4)))
      : undefined;
  if (disk && diskMap) disk.onEvict((path) => diskMap.drop(path));
  const fetcher = new BlockFetcher({
    ...(disk ? { disk } : {}),
    ...(diskMap ? { diskMap } : {}),
    store,
    cache,
    requests,
    getSlots: shared.getSlots,
    blockBytes: cfg.blockBytes,
    requestBytes: cfg.requestBytes,
    // prefetched blocks live in the cache until read: let them fill at most half of it
    prefetchBudgetBytes: Math.floor(memory.cacheBytes / 2),
    readDeadlineMs: cfg.requestTimeoutMs,
    logger: logger.child({ mod: 'read' }),
  });
  const id = o.stagingId ?? mountId(cfg);
  const staging = new StagingArea(o.stagingDir, id, logger.child({ mod: 'staging' }));
  await staging.init();
  const uploader = new Uploader({
    store,
    requests,
    parts,
    partBytes: cfg.partBytes,
    partConcurrency: cfg.uploadConcurrency,
    copyThresholdBytes: cfg.copyThresholdBytes,
    logger: logger.child({ mod: 'upload' }),
  });
  const queue = new UploadQueue({
    uploader,
    logger: logger.child({ mod: 'upload' }),
    retryBaseMs: o.uploadRetry?.baseMs ?? UPLOAD_RETRY_BASE_MS,
    retryMaxMs: o.uploadRetry?.maxMs ?? UPLOAD_RETRY_MAX_MS,
    pathOf: (file) => openFiles.pathOf(file),
  });
  const openFiles: OpenFiles = new OpenFiles({
    staging,
    store,
    meta,
    queue,
    prefix: cfg.prefix,
    writeBack: cfg.writeBack,
    logger: logger.child({ mod: 'write' }),
    uid: cfg.uid,
    gid: cfg.gid,
    startEager: (staged) =>
      new EagerUpload(staged, cfg.partBytes, {
        store,
        requests,
        parts,
        logger: logger.child({ mod: 'upload' }),
      }),
  });
  const namespace = new Namespace({
    store,
    meta,
    prefix: cfg.prefix,
    requests,
    copy: {
      store,
      requests,
      thresholdBytes: cfg.copyThresholdBytes,
      partBytes: cfg.partBytes,
      partConcurrency: cfg.uploadConcurrency,
      logger: logger.child({ mod: 'namespace' }),
    },
    logger: logger.child({ mod: 'namespace' }),
  });
  // keep prefetch within a quarter of the cache, so prefetched blocks are not evicted unread
  const readAheadBytes = Math.min(cfg.readAheadBytes, Math.floor(cfg.cacheBytes / 4));
  const lookahead = smallFileLookahead(cfg, fetcher, memory, logger);
  const fs = new S3FileSystem({
    meta,
    fetcher,
    ...(fastReads ? { fastReads } : {}),
    ...(nativeWrites ? { nativeWrites } : {}),
    openFiles,
    namespace,
    objectMetadata: cfg.objectMetadata,
    directIo: cfg.directIo,
    callerOwns: cfg.allowOther,
    prefix: cfg.prefix,
    logger: logger.child({ mod: 'fs' }),
    uid: cfg.uid,
    gid: cfg.gid,
    fileMode: cfg.fileMode,
    dirMode: cfg.dirMode,
    readOnly: cfg.readOnly,
    readAheadBytes,
    ...(lookahead
      ? {
          smallFiles: new SmallFiles({
            meta,
            lookahead,
            prefix: cfg.prefix,
            blockBytes: cfg.blockBytes,
            ...(o.cacheScope !== undefined ? { cacheScope: o.cacheScope } : {}),
          }),
        }
      : {}),
    mountTimeMs: clock.nowMs(),
    clock,
    // the native attribute cache may hold the old size of a path the mount learnt changed
    ...(native ? { onSizeChange: () => native.invalidateAttrs() } : {}),
    handles: shared.handles,
    ...(o.cacheScope !== undefined ? { cacheScope: o.cacheScope } : {}),
    statfs: new StatfsCache({
      usage: store.usage ? (signal) => store.usage?.(signal) ?? Promise.resolve(undefined) : undefined,
      clock,
      ttlMs: cfg.metadataTtlMs,
      logger: logger.child({ mod: 'statfs' }),
    }),
  });
  const pending = new PendingUploads(openFiles, queue);
  return {
    fs,
    memory,
    meta,
    cache,
    fetcher,
    ...(disk ? { disk } : {}),
    ...(diskMap ? { diskMap } : {}),
    uploader,
    queue,
    pending,
    shareSite: (path) => ({ fs, pending, store, prefix: cfg.prefix, path }),
    verifier: new Verifier({
      store,
      prefix: cfg.prefix,
      stagedPaths: () => pending.list().map((f) => f.path),
    }),
    recover: () => openFiles.recover(),
    drain: async (onWait) => {
      await queue.drain(onWait);
      await openFiles.idle(); // the local copies of what was uploaded go before the daemon does
      await disk?.settle(); // blocks read just before an unmount are still written to disk
    },
    parked: () => queue.parked(),
    stop: () => {
      queue.stop();
      diskMap?.close();
    },
    stats: () => ({
      upload: uploader.counters,
      meta: { ...meta.counters, ...meta.walkCounters },
      cache: cache.counters,
      fetch: fetcher.counters,
      ...(disk ? { diskFill: fetcher.fillCounters } : {}),
      ...(lookahead ? { lookahead: lookahead.counters } : {}),
      cachedBytes: cache.cachedBytes,
      ...(disk ? { diskCache: { ...disk.stats(), mappedFiles: diskMap?.size ?? 0 } } : {}),
      fs: fs.counters,
    }),
  };
}
