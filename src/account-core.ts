// buildAccountCore: a whole-account mount without FUSE: the root (fs/account-root.ts) over
// one core per bucket (core.ts), set up on first use, all sharing one SharedParts.
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { MountConfig } from './config/config.js';
import {
  buildCore,
  buildSharedParts,
  type Core,
  type CoreNativePorts,
  type SharedParts,
  type ShareSite,
} from './core.js';
import { AccountRoot, splitAccountPath, type BucketMount, type BucketMounts } from './fs/account-root.js';
import { BucketList } from './fs/bucket-list.js';
import type { PendingUpload, SyncOutcome, SyncProgress } from './fs/pending-uploads.js';
import type { VerifyEntry, VerifyProgress } from './fs/verify.js';
import { StatfsCache } from './fs/statfs.js';
import type { Logger } from './log/logger.js';
import type { AccountStore } from './s3/account-store.js';
import { sumUsage, type BucketUsage } from './s3/bucket-usage.js';
import type { SleepClock } from './util/clock.js';
import type { ParkedUpload } from './write/upload-queue.js';

/** HeadBuckets in flight at once for a whole-account df */
const USAGE_REQUESTS = 8;

/**
 * Names a whole-account mount's staging directory: the same endpoint finds it again. Each
 * bucket stages into its own subdirectory, named by the bucket.
 */
export function accountMountId(cfg: Pick<MountConfig, 'endpoint' | 'region'>): string {
  const h = createHash('sha256')
    .update(`${cfg.endpoint ?? `aws:${cfg.region}`}\n(all buckets)`)
    .digest('hex')
    .slice(0, 16);
  return `account-${h}`;
}

export interface AccountCoreOptions {
  cfg: MountConfig;
  account: AccountStore;
  logger: Logger;
  clock: SleepClock;
  /** this mount's staging directory (the daemon: `<--staging-dir>/<accountMountId>`); one subdirectory per bucket */
  stagingDir: string;
  native?: CoreNativePorts;
  uploadRetry?: { baseMs: number; maxMs: number };
}

export interface AccountCore {
  fs: AccountRoot;
  shared: SharedParts;
  /** the buckets set up so far */
  cores(): ReadonlyMap<string, Core>;
  /** sets up every bucket an earlier run left staged files in, which uploads them; how many files */
  recover(): Promise<number>;
  drain(onWait?: (pending: number) => void): Promise<void>;
  parked(): ParkedUpload[];
  /** files written and not in S3 yet, by mount path ("/BUCKET/...") */
  pending(): PendingUpload[];
  /** the flush barrier under these mount paths */
  sync(paths: string[], onProgress?: (p: SyncProgress) => void): Promise<SyncOutcome>;
  stop(): void;
  stats(): Record<string, unknown>;
  /** `s3mount verify` over mount paths: each bucket's verifier, its paths mapped back */
  verify(paths: string[], onProgress?: (p: VerifyProgress) => void): Promise<VerifyEntry[]>;
  /** `s3mount share`: the bucket filesystem holding a mount path (set up if need be); undefined for the root or a bucket */
  shareSite(mountPath: string): Promise<ShareSite | undefined>;
}

/** A mount path of bucket `bucket` for a path inside it. */
const inBucket = (bucket: string, path: string) => (path === '/' ? `/${bucket}` : `/${bucket}${path}`);

export function buildAccountCore(o: AccountCoreOptions): AccountCore {
  const { cfg, account, logger, clock } = o;
  const shared = buildSharedParts(cfg, o.native);
  const cores = new Map<string, Core>();
  const opening = new Map<string, Promise<Core>>();
  const id = (bucket: string) => `${accountMountId(cfg)}/${bucket}`;

  async function setUp(bucket: string): Promise<Core> {
    const core = await buildCore({
      cfg: { ...cfg, bucket, prefix: '' },
      store: account.storeFor(bucket),
      logger: logger.child({ bucket }),
      clock,
      stagingDir: join(o.stagingDir, bucket),
      stagingId: id(bucket),
      ...(o.native ? { native: o.native } : {}),
      ...(o.uploadRetry ? { uploadRetry: o.uploadRetry } : {}),
      shared,
      cacheScope: `${bucket}/`,
    });
    cores.set(bucket, core);
    const recovered = await core.recover();
    if (recovered > 0)
      logger.warn('found files staged by an earlier run; uploading them', { bucket, count: recovered });
    return core;
  }

  const mountOf = (core: Core): BucketMount => ({
    fs: core.fs,
    pendingFiles: () => core.pending.list().length,
  });
  const mounts: BucketMounts = {
    peek: (bucket) => {
      const core = cores.get(bucket);
      return core ? mountOf(core) : undefined;
    },
    open: async (bucket) => {
      const ready = cores.get(bucket);
      if (ready) return mountOf(ready);
      let p = opening.get(bucket);
      if (!p) {
        p = setUp(bucket).finally(() => opening.delete(bucket));
        opening.set(bucket, p);
      }
      return mountOf(await p);
    },
    close: async (bucket) => {
      const core = cores.get(bucket);
      cores.delete(bucket);
      core?.stop();
      // nothing is staged in it (rmdir checked): an empty directory goes with the bucket
      await rmdir(join(o.stagingDir, bucket)).catch(() => undefined);
    },
  };

  const buckets = new BucketList({
    account,
    clock,
    ttlMs: cfg.metadataTtlMs,
    negativeTtlMs: cfg.negativeTtlMs,
  });

  /** every bucket's usage, a few HeadBuckets at a time; one that fails counts as unknown */
  async function usage(): Promise<BucketUsage | undefined> {
    const names = (await buckets.all()).map((b) => b.name);
    const out: (BucketUsage | undefined)[] = [];
    for (let i = 0; i < names.length; i += USAGE_REQUESTS) {
      const batch = names.slice(i, i + USAGE_REQUESTS);
      out.push(
        ...(await Promise.all(
          batch.map((name) =>
            (account.storeFor(name).usage?.() ?? Promise.resolve(undefined)).catch((err: unknown) => {
              // df must answer: this bucket's share is not known (and the sum says no limit)
              logger.debug('cannot read a bucket usage for statfs', { bucket: name, error: String(err) });
              return undefined;
            }),
          ),
        )),
      );
    }
    return sumUsage(out);
  }

  const fs = new AccountRoot({
    buckets,
    account,
    mounts,
    statfs: new StatfsCache({
      usage,
      clock,
      ttlMs: cfg.metadataTtlMs,
      logger: logger.child({ mod: 'statfs' }),
    }),
    clock,
    logger: logger.child({ mod: 'account' }),
    uid: cfg.uid,
    gid: cfg.gid,
    dirMode: cfg.dirMode,
    readOnly: cfg.readOnly,
    blockBytes: cfg.blockBytes,
    mountTimeMs: clock.nowMs(),
  });

  const withPaths = <T extends { path: string }>(bucket: string, items: T[]): T[] =>
    items.map((x) => ({ ...x, path: inBucket(bucket, x.path) }));

  return {
    fs,
    shared,
    cores: () => cores,
    verify: async (paths, onProgress) => {
      const out: VerifyEntry[] = [];
      for (const mountPath of paths) {
        const p = splitAccountPath(mountPath);
        if (!p) {
          out.push({
            path: mountPath,
            status: 'error',
            detail: 'the root of a whole-account mount: give buckets',
          });
          continue;
        }
        if (!cores.has(p.bucket) && !(await buckets.find(p.bucket))) {
          out.push({ path: mountPath, status: 'error', detail: 'no such bucket' });
          continue;
        }
        await mounts.open(p.bucket);
        const core = cores.get(p.bucket);
        if (!core) continue;
        const entries = await core.verifier.verify([p.path], onProgress);
        out.push(...withPaths(p.bucket, entries));
      }
      return out;
    },
    shareSite: async (mountPath) => {
      const p = splitAccountPath(mountPath);
      if (!p || p.path === '/') return undefined; // the root, or a bucket: directories
      if (!cores.has(p.bucket) && !(await buckets.find(p.bucket))) return undefined;
      await mounts.open(p.bucket);
      return cores.get(p.bucket)?.shareSite(p.path);
    },
    recover: async () => {
      let names: string[];
      try {
        names = await readdir(o.stagingDir);
      } catch {
        return 0; // no staging directory yet: nothing was ever staged
      }
      let count = 0;
      for (const bucket of names.sort()) {
        const files = await readdir(join(o.stagingDir, bucket)).catch(() => [] as string[]);
        if (!files.some((f) => f.endsWith('.json'))) continue;
        const before = count;
        count += files.filter((f) => f.endsWith('.json')).length;
        try {
          await mounts.open(bucket);
        } catch (err) {
          count = before;
          logger.error('cannot set up a bucket to upload its staged files', { bucket, error: String(err) });
        }
      }
      return count;
    },
    drain: async (onWait) => {
      // one core's count at a time would mislead: report the sum of what is left
      const left = new Map<string, number>();
      await Promise.all(
        [...cores].map(([bucket, core]) =>
          core.drain((n) => {
            left.set(bucket, n);
            onWait?.([...left.values()].reduce((a, b) => a + b, 0));
          }),
        ),
      );
    },
    parked: () => [...cores].flatMap(([bucket, core]) => withPaths(bucket, core.parked())),
    pending: () =>
      [...cores]
        .flatMap(([bucket, core]) => withPaths(bucket, core.pending.list()))
        .sort((a, b) => a.sinceMs - b.sinceMs),
    sync: async (paths, onProgress) => {
      const last = new Map<string, SyncProgress>();
      const outcomes = await Promise.all(
        [...cores].map(async ([bucket, core]) => {
          const inner = paths.flatMap((p) => {
            const s = splitAccountPath(p);
            if (!s) return ['/'];
            return s.bucket === bucket ? [s.path] : [];
          });
          if (inner.length === 0) return { uploaded: 0, failed: [] };
          const r = await core.pending.sync(inner, (p) => {
            last.set(bucket, p);
            const all = [...last.values()];
            onProgress?.({
              filesLeft: all.reduce((a, x) => a + x.filesLeft, 0),
              bytesLeft: all.reduce((a, x) => a + x.bytesLeft, 0),
              filesTotal: all.reduce((a, x) => a + x.filesTotal, 0),
              bytesTotal: all.reduce((a, x) => a + x.bytesTotal, 0),
            });
          });
          return { uploaded: r.uploaded, failed: withPaths(bucket, r.failed) };
        }),
      );
      return {
        uploaded: outcomes.reduce((a, r) => a + r.uploaded, 0),
        failed: outcomes.flatMap((r) => r.failed),
      };
    },
    stop: () => {
      for (const core of cores.values()) core.stop();
    },
    stats: () => ({
      buckets: cores.size,
      cache: shared.cache.counters,
      cachedBytes: shared.cache.cachedBytes,
      ...Object.fromEntries([...cores].map(([bucket, core]) => [`bucket:${bucket}`, core.stats()])),
    }),
  };
}
