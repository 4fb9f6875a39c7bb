// Daemon: the composition root: builds the S3 store, the filesystem core over it
// (core.ts), mounts it with FUSE; stats and shutdown. No option parsing, no process exit.
import { join } from 'node:path';
import type { MountConfig } from './config/config.js';
import type {
  MountStatus,
  S3Pacing,
  ShareResult,
  SyncResult,
  UploadProgress,
  VerifyResult,
} from './control/protocol.js';
import {
  buildCore,
  mountId,
  planMemory,
  shareLinks,
  type Core,
  type ParkedUpload,
  type ResolveShareSite,
} from './core.js';
import { mountFuse, type MountedFileSystem, type MountedFuse } from './fuse/adapter.js';
import { loadNativeFastPaths, type NativeFastPaths } from './fuse/native.js';
import type { Logger, Redactor } from './log/logger.js';
import { RefreshingCredentials } from './s3/credential-refresh.js';
import { resolveCredentialSource } from './s3/credentials.js';
import { AdaptiveRateLimiter } from './s3/rate.js';
import { S3RetryStrategy } from './s3/retry.js';
import { StoreError } from './s3/errors.js';
import { SdkObjectStore } from './s3/sdk-store.js';
import type { TlsSettings } from './s3/tls.js';
import { systemClock } from './util/clock.js';

export { PREFETCH_REQUESTS_MAX, mountId, planMemory, type MemoryPlan } from './core.js';

export interface Daemon {
  fs: MountedFileSystem;
  unmount(): Promise<void>;
  /** waits until every staged write is in S3 (retrying); after unmount. Parked files are not waited for */
  drain(onWait: (pending: number) => void): Promise<void>;
  /** staged files whose upload failed in a way retrying cannot fix; they stay staged */
  parked(): ParkedUpload[];
  /** releases S3 connections and stops retries; after unmount (and drain) */
  close(): void;
  stats(): Record<string, unknown>;
  /** the answer to `s3mount status` */
  status(): MountStatus;
  /** the flush barrier behind `s3mount sync`: uploads what is written under these mount paths */
  sync(paths: string[], onProgress?: (p: UploadProgress) => void): Promise<SyncResult>;
  /** files written and not in S3 yet */
  pending(): MountStatus['uploads']['files'];
  /** `s3mount share`: a presigned GET URL for each file (mount paths), or why not */
  share(paths: string[], expiresSec: number): Promise<ShareResult>;
  /** `s3mount verify`: re-reads the objects at these mount paths and checks their stored SHA-256 */
  verify(paths: string[], onProgress?: (p: UploadProgress) => void): Promise<VerifyResult>;
}

/** The endpoint as shown in status: without any user:password part. */
export function shownEndpoint(cfg: MountConfig): string {
  if (cfg.endpoint === undefined) return `AWS S3 (${cfg.region})`;
  try {
    const u = new URL(cfg.endpoint);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid endpoint)';
  }
}

function statusOf(
  cfg: MountConfig,
  stagingDir: string,
  startedAtMs: number,
  store: SdkObjectStore,
  core: Core,
  native: NativeFastPaths | undefined,
): MountStatus {
  const served = native?.served();
  const hits = core.cache.counters.hits + (served?.reads ?? 0);
  const misses = core.cache.counters.misses;
  const files = core.pending.list();
  const last = core.queue.lastFailure;
  return {
    pid: process.pid,
    mountpoint: cfg.mountpoint,
    endpoint: shownEndpoint(cfg),
    bucket: cfg.bucket,
    prefix: cfg.prefix,
    startedAtMs,
    uptimeMs: Date.now() - startedAtMs,
    stagingDir,
    cache: {
      sizeBytes: core.memory.cacheBytes,
      usedBytes: core.cache.cachedBytes,
      hits,
      misses,
      hitRatio: hits + misses === 0 ? 0 : hits / (hits + misses),
    },
    ...(core.disk && cfg.cacheDir !== undefined
      ? {
          diskCache: {
            dir: cfg.cacheDir,
            sizeBytes: cfg.cacheDirBytes,
            ...core.disk.stats(),
            mappedFiles: core.diskMap?.size ?? 0,
            fileReads: served?.diskReads ?? 0,
          },
        }
      : {}),
    bytes: {
      read: core.fs.counters.readBytes + (served?.bytes ?? 0),
      written: core.fs.counters.writtenBytes + (served?.writtenBytes ?? 0),
    },
    s3: {
      requests: { ...store.requestCounts },
      errors: structuredClone(store.errorCounts),
      downloadedBytes: core.fetcher.counters.bytes,
      uploadedBytes: core.uploader.counters.bytes,
      ...(store.retry ? { pacing: pacingOf(store.retry) } : {}),
    },
    uploads: {
      pendingFiles: files.length,
      pendingBytes: files.reduce((a, f) => a + f.bytes, 0),
      ...(files[0] ? { oldestSinceMs: files[0].sinceMs } : {}),
      ...(last ? { lastError: { path: last.path, reason: last.reason } } : {}),
      files,
    },
  };
}

function pacingOf(retry: S3RetryStrategy): S3Pacing {
  const l = retry.limiter;
  return {
    throttled: l.counters.throttles,
    rateDecreases: l.counters.decreases,
    ...(l.ratePerS !== undefined ? { rateLimitPerS: Math.round(l.ratePerS * 10) / 10 } : {}),
    ...(l.lowestPerS !== undefined ? { lowestRatePerS: Math.round(l.lowestPerS * 10) / 10 } : {}),
    delayedRequests: l.counters.delayed,
    delayedMs: Math.round(l.counters.delayedMs),
    retries: retry.counters.retries,
    retriesRefused: retry.counters.budgetExhausted,
  };
}

export function fastPathStats(served: {
  reads: number;
  bytes: number;
  writes: number;
  writtenBytes: number;
  diskReads: number;
}): Record<string, number> {
  return {
    fastReads: served.reads,
    fastReadBytes: served.bytes,
    fastDiskReads: served.diskReads,
    fastWrites: served.writes,
    fastWriteBytes: served.writtenBytes,
  };
}

export function buildStore(
  cfg: MountConfig,
  credentials: RefreshingCredentials,
  tls: TlsSettings = {},
): SdkObjectStore {
  return new SdkObjectStore({
    tls,
    bucket: cfg.bucket,
    ...(cfg.endpoint !== undefined ? { endpoint: cfg.endpoint } : {}),
    region: cfg.region,
    pathStyle: cfg.pathStyle,
    credentials,
    requestDeadlineMs: cfg.requestTimeoutMs,
    connectTimeoutMs: cfg.connectTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    maxSockets: cfg.maxRequests + 8,
    // one pace and one retry budget for every request of the mount
    retry: new S3RetryStrategy({ limiter: new AdaptiveRateLimiter(systemClock), clock: systemClock }),
  });
}

/**
 * The keys by the documented precedence (s3/credentials.ts), loaded once now so that a
 * source that cannot give keys fails the mount with its one line; every secret loaded,
 * now or later, goes to the redactor. A profile's endpoint_url fills in a missing endpoint.
 */
export async function loadCredentials(
  cfg: MountConfig,
  env: NodeJS.ProcessEnv,
  home: string,
  redactor: Redactor,
  logger: Logger,
): Promise<{ cfg: MountConfig; credentials: RefreshingCredentials }> {
  const source = await resolveCredentialSource(
    {
      ...(cfg.keysCommand !== undefined ? { keysCommand: cfg.keysCommand } : {}),
      keysCommandTimeoutMs: cfg.keysCommandTimeoutMs,
      ...(cfg.passwdFile !== undefined ? { passwdFile: cfg.passwdFile } : {}),
      ...(cfg.profile !== undefined ? { profile: cfg.profile } : {}),
      ...(cfg.bucket !== '' ? { bucket: cfg.bucket } : {}),
    },
    env,
    home,
  );
  let loads = 0;
  const credentials = new RefreshingCredentials(source, (c) => {
    redactor.add(c.secretAccessKey);
    redactor.add(c.sessionToken);
    if (loads++ > 0)
      logger.info('keys asked for again', { from: source.describe, accessKeyId: c.accessKeyId });
  });
  await credentials.get();
  return {
    cfg:
      cfg.endpoint === undefined && source.endpoint !== undefined
        ? { ...cfg, endpoint: source.endpoint }
        : cfg,
    credentials,
  };
}

/**
 * How long the mount command waits for the bucket check (HeadBucket and a one-key
 * listing) when --request-timeout is longer: an endpoint that accepts connections and
 * never answers must fail the mount within 30 s (issue #13), and starting two node
 * processes (the command and the detached daemon) took 13 s on a loaded 2-core test
 * machine (20 s here made the whole command take 33 s); two small requests to a working
 * server take well under a second. The store is destroyed after a failed check,
 * which ends the requests still waiting.
 */
export const ACCESS_CHECK_TIMEOUT_MS = 10_000;

/** Checks the bucket answers with these credentials; throws StoreError otherwise. */
export async function checkAccess(store: SdkObjectStore, timeoutMs = ACCESS_CHECK_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreError('Timeout', `no answer within ${Math.round(timeoutMs / 1000)} s`, {
            op: 'HeadBucket',
          }),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([store.checkBucket(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The fast paths, or a one-line error naming why they cannot be used and the way out. */
export function nativeFastPaths(): NativeFastPaths {
  try {
    return loadNativeFastPaths();
  } catch (err) {
    throw new Error(
      `the native fast paths cannot be used: ${err instanceof Error ? err.message : String(err)} (or mount with --no-native)`,
      { cause: err },
    );
  }
}

export async function startDaemon(cfg: MountConfig, store: SdkObjectStore, logger: Logger): Promise<Daemon> {
  logger.info('memory plan', { limitBytes: cfg.memoryLimitBytes, ...planMemory(cfg) });
  const native = cfg.native ? nativeFastPaths() : undefined;
  if (!native) logger.info('--no-native: every FUSE operation runs in JavaScript');
  const id = mountId(cfg);
  const startedAtMs = Date.now();
  const core = await buildCore({
    cfg,
    store,
    logger,
    clock: systemClock,
    stagingDir: join(cfg.stagingDir, id),
    stagingId: id,
    ...(native
      ? {
          native: {
            reads: native.reads,
            writes: native.writes,
            invalidateAttrs: () => native.attrs.invalidate(),
          },
        }
      : {}),
  });
  const mounted: MountedFuse = await mountFuse(
    core.fs,
    {
      mountpoint: cfg.mountpoint,
      fsname: `s3mount:${cfg.bucket}`,
      allowOther: cfg.allowOther,
      ...(native && cfg.metadataTtlMs > 0 && !cfg.objectMetadata
        ? { attrs: { fast: native.attrs, ttlMs: cfg.metadataTtlMs } }
        : {}),
      ...(native ? { dirs: native.dirs } : {}),
    },
    logger,
  );
  // `s3mount share`: mount path → the filesystem and bucket holding it. This mount is one
  // bucket (and prefix): one site for every path. A mount of several buckets resolves here:
  // the first component names the bucket, whose core's shareSite gets the rest; the root
  // (no bucket) → undefined ("is a directory").
  const shareSite: ResolveShareSite = (path) => core.shareSite(path);
  const recovered = await core.recover();
  if (recovered > 0)
    logger.warn('found files staged by an earlier run; uploading them', { count: recovered });
  return {
    fs: core.fs,
    unmount: () => mounted.unmount(),
    drain: (onWait) => core.drain(onWait),
    parked: () => core.parked(),
    close: () => {
      core.stop();
      store.destroy();
    },
    stats: () => ({
      requests: { ...store.requestCounts },
      listPagesParsed: { ...store.listPagesParsed },
      ...(store.retry ? { pacing: pacingOf(store.retry) } : {}),
      ...core.stats(),
      ...(native ? fastPathStats(native.served()) : {}),
    }),
    status: () => statusOf(cfg, join(cfg.stagingDir, id), startedAtMs, store, core, native),
    sync: (paths, onProgress) => core.pending.sync(paths, onProgress),
    pending: () => core.pending.list(),
    share: async (paths, expiresSec) => ({
      links: await shareLinks(shareSite, paths, expiresSec, logger.child({ mod: 'share' })),
    }),
    verify: async (paths, onProgress) => ({ entries: await core.verifier.verify(paths, onProgress) }),
  };
}
