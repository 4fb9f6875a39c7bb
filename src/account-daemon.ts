// The daemon of a whole-account mount (`s3mount MOUNTPOINT`): the account core mounted
// with FUSE, its staged files recovered, its status summed over the buckets set up.
import { join } from 'node:path';
import { accountMountId, buildAccountCore, type AccountCore } from './account-core.js';
import type { MountConfig } from './config/config.js';
import type { MountStatus } from './control/protocol.js';
import { planMemory, shareLinks } from './core.js';
import { fastPathStats, nativeFastPaths, shownEndpoint, type Daemon } from './daemon.js';
import { mountFuse } from './fuse/adapter.js';
import type { NativeFastPaths } from './fuse/native.js';
import type { Logger } from './log/logger.js';
import type { SdkAccountStore } from './s3/account-store.js';
import type { SdkObjectStore } from './s3/sdk-store.js';
import { systemClock } from './util/clock.js';

/** Whether the configuration mounts every bucket (no bucket given). */
export function isWholeAccount(cfg: Pick<MountConfig, 'bucket'>): boolean {
  return cfg.bucket === '';
}

/** Checks the keys can list the account's buckets; throws StoreError otherwise. */
export async function checkAccountAccess(account: SdkAccountStore): Promise<void> {
  await account.listBuckets();
}

function statusOf(
  cfg: MountConfig,
  stagingDir: string,
  startedAtMs: number,
  store: SdkObjectStore,
  core: AccountCore,
  native: NativeFastPaths | undefined,
): MountStatus {
  const served = native?.served();
  const cores = [...core.cores().values()];
  const sum = (f: (c: (typeof cores)[number]) => number) => cores.reduce((a, c) => a + f(c), 0);
  const cache = core.shared.cache;
  const hits = cache.counters.hits + (served?.reads ?? 0);
  const misses = cache.counters.misses;
  const files = core.pending();
  const last = cores
    .map((c) => c.queue.lastFailure)
    .filter((f): f is NonNullable<typeof f> => f !== undefined)
    .sort((a, b) => b.atMs - a.atMs)[0];
  return {
    pid: process.pid,
    mountpoint: cfg.mountpoint,
    endpoint: shownEndpoint(cfg),
    bucket: '',
    prefix: '',
    startedAtMs,
    uptimeMs: Date.now() - startedAtMs,
    stagingDir,
    cache: {
      sizeBytes: core.shared.memory.cacheBytes,
      usedBytes: cache.cachedBytes,
      hits,
      misses,
      hitRatio: hits + misses === 0 ? 0 : hits / (hits + misses),
    },
    bytes: {
      read: sum((c) => c.fs.counters.readBytes) + (served?.bytes ?? 0),
      written: sum((c) => c.fs.counters.writtenBytes) + (served?.writtenBytes ?? 0),
    },
    s3: {
      requests: { ...store.requestCounts },
      errors: structuredClone(store.errorCounts),
      downloadedBytes: sum((c) => c.fetcher.counters.bytes),
      uploadedBytes: sum((c) => c.uploader.counters.bytes),
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

/** `store`: the mount's one client (its own bucket unused); `account`: the buckets over it. */
export async function startAccountDaemon(
  cfg: MountConfig,
  store: SdkObjectStore,
  account: SdkAccountStore,
  logger: Logger,
): Promise<Daemon> {
  logger.info('memory plan (shared by every bucket)', {
    limitBytes: cfg.memoryLimitBytes,
    ...planMemory(cfg),
  });
  const native = cfg.native ? nativeFastPaths() : undefined;
  if (!native) logger.info('--no-native: every FUSE operation runs in JavaScript');
  const stagingDir = join(cfg.stagingDir, accountMountId(cfg));
  const startedAtMs = Date.now();
  const core = buildAccountCore({
    cfg,
    account,
    logger,
    clock: systemClock,
    stagingDir,
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
  const mounted = await mountFuse(
    core.fs,
    {
      mountpoint: cfg.mountpoint,
      fsname: 's3mount:all-buckets',
      allowOther: cfg.allowOther,
      ...(native && cfg.metadataTtlMs > 0 && !cfg.objectMetadata
        ? { attrs: { fast: native.attrs, ttlMs: cfg.metadataTtlMs } }
        : {}),
      ...(native ? { dirs: native.dirs } : {}),
    },
    logger,
  );
  const recovered = await core.recover();
  if (recovered > 0) logger.info('buckets with staged files set up', { files: recovered });
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
      ...core.stats(),
      ...(native ? fastPathStats(native.served()) : {}),
    }),
    status: () => statusOf(cfg, stagingDir, startedAtMs, store, core, native),
    sync: (paths, onProgress) => core.sync(paths, onProgress),
    pending: () => core.pending(),
    verify: async (paths, onProgress) => ({ entries: await core.verify(paths, onProgress) }),
    share: async (paths, expiresSec) => ({
      links: await shareLinks(
        (path) => core.shareSite(path),
        paths,
        expiresSec,
        logger.child({ mod: 'share' }),
      ),
    }),
  };
}
