// A mounted daemon's life until it stops: the control socket (status, sync, share, unmount), the
// signals, the watch for an unmount from outside, and the stop: wait for uploads, report.
import { rm } from 'node:fs/promises';
import type { MountConfig } from '../config/config.js';
import type { NotUploaded, UnmountResult, UploadProgress } from '../control/protocol.js';
import { ControlServer } from '../control/server.js';
import type { Daemon } from '../daemon.js';
import type { Logger } from '../log/logger.js';
import { findMount } from '../util/mountinfo.js';
import { socketFile } from './state-files.js';

/** How often the daemon checks whether someone unmounted it (fusermount -u, umount). */
const MOUNT_WATCH_INTERVAL_MS = 500;
/** How often a waiting `s3mount unmount` is told the uploads left. */
const PROGRESS_INTERVAL_MS = 500;

/** SIGINT and SIGTERM caught (not acted on) until serve() takes over, so that a signal during the mount cannot kill the daemon and leave a dead mount. */
export interface HeldSignals {
  /** the first signal caught, if any */
  first(): NodeJS.Signals | undefined;
  /** stops catching */
  release(): void;
}

/** Starts catching SIGINT and SIGTERM (call it before mounting). */
export function holdSignals(): HeldSignals {
  let caught: NodeJS.Signals | undefined;
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((s) => {
    const h = () => (caught ??= s);
    process.on(s, h);
    return [s, h] as const;
  });
  return {
    first: () => caught,
    release: () => {
      for (const [s, h] of handlers) process.off(s, h);
    },
  };
}

export interface ServeOptions {
  cfg: MountConfig;
  env: NodeJS.ProcessEnv;
  daemon: Daemon;
  logger: Logger;
  /** removed when the daemon stops (the detached daemon's pid file) */
  pidPath?: string;
  /** signals caught since before the mount: a caught one stops the daemon as soon as it serves */
  held?: HeldSignals;
}

/** Serves until unmounted or signalled; resolves with the exit code (1: files left staged). */
export async function serve(o: ServeOptions): Promise<number> {
  const { cfg, daemon, logger } = o;
  let stopping = false;
  /** leave what is not uploaded staged instead of waiting (unmount --force, a second signal) */
  let abandon: (() => void) | undefined;
  let leaveStaged = false;
  let finished: (r: UnmountResult & { code: number }) => void = () => undefined;
  const stopped = new Promise<UnmountResult & { code: number }>((r) => (finished = r));
  const stagingDir = daemon.status().stagingDir;

  const progressOf = (): UploadProgress => {
    const files = daemon.pending().filter((f) => !f.parked);
    const bytes = files.reduce((a, f) => a + f.bytes, 0);
    return { filesLeft: files.length, bytesLeft: bytes, filesTotal: files.length, bytesTotal: bytes };
  };

  const control = new ControlServer(
    socketFile(cfg.mountpoint, o.env),
    {
      status: () => Promise.resolve(daemon.status()),
      sync: (req, progress) => daemon.sync(req.paths, progress),
      share: (req) => daemon.share(req.paths, req.expiresSec),
      verify: (req, progress) => daemon.verify(req.paths, progress),
      unmount: async (req, progress) => {
        if (req.force) leaveStaged = true;
        if (!stopping) {
          // the command unmounts first (a busy mount fails there, not here); if it did not, unmount here
          const stillMounted = (await findMount(cfg.mountpoint)) !== undefined;
          void stop('s3mount unmount', stillMounted);
        } else if (req.force) abandon?.();
        const first = progressOf();
        const timer = setInterval(() => {
          const p = progressOf();
          progress({ ...p, filesTotal: first.filesTotal, bytesTotal: first.bytesTotal });
        }, PROGRESS_INTERVAL_MS);
        try {
          const { staged, stagingDir } = await stopped;
          return { staged, stagingDir };
        } finally {
          clearInterval(timer);
        }
      },
    },
    logger.child({ mod: 'control' }),
  );
  try {
    await control.listen();
  } catch (err) {
    logger.warn('no control socket: s3mount status, sync and unmount cannot reach this mount', {
      error: err instanceof Error ? err.message : String(err),
    });
  }

  const notUploaded = (): NotUploaded[] => {
    const files = leaveStaged ? daemon.pending() : daemon.pending().filter((f) => f.parked);
    return files.map((f) => ({
      path: f.path,
      stagedPath: f.stagedPath,
      reason: f.lastError ?? (leaveStaged ? 'left staged (unmount --force)' : 'not uploaded'),
    }));
  };

  const stop = async (why: string, unmountFirst: boolean): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    logger.info('stopping', { why });
    let code = 0;
    if (unmountFirst) {
      try {
        await daemon.unmount();
      } catch (err) {
        logger.error('unmount failed', { error: err instanceof Error ? err.message : String(err) });
        code = 1;
      }
    }
    // everything written must reach S3 before the daemon goes; a second signal (or unmount
    // --force) leaves the rest staged for the next mount of this bucket
    if (!leaveStaged) {
      const left = progressOf();
      if (left.filesLeft > 0)
        logger.warn('waiting for uploads before exit (send the signal again to leave them staged)', {
          files: left.filesLeft,
          bytes: left.bytesLeft,
        });
      await Promise.race([daemon.drain(() => undefined), new Promise<void>((r) => (abandon = r))]);
    }
    const staged = notUploaded();
    daemon.close();
    for (const f of staged) {
      logger.error('not uploaded: the file stays staged and the next mount of this bucket tries it again', {
        path: f.path,
        staged: f.stagedPath,
        reason: f.reason,
      });
    }
    if (staged.length > 0) code = 1;
    if (o.pidPath !== undefined) await rm(o.pidPath, { force: true });
    logger.info('stopped', daemon.stats());
    finished({ staged, stagingDir, code });
  };

  const onSignal = (sig: string) => {
    if (stopping) {
      logger.warn('exiting with uploads still staged; they are uploaded at the next mount', { signal: sig });
      leaveStaged = true;
      abandon?.();
      return;
    }
    void stop(sig, true);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const watch = setInterval(() => {
    findMount(cfg.mountpoint).then(
      (m) => {
        if (!m) void stop('unmounted', false);
      },
      (err: unknown) => logger.warn('cannot read the mount table', { error: String(err) }),
    );
  }, MOUNT_WATCH_INTERVAL_MS);
  o.held?.release();
  const early = o.held?.first();
  if (early) onSignal(early);

  const { code } = await stopped;
  // answers under way (the unmount request's) go out before the process exits
  await new Promise((r) => setImmediate(r));
  await control.close();
  return code;
}
