// The mount command: preflight, then run the daemon here (--foreground) or in a detached
// child that reports "ready" or its one-line error over IPC before the parent exits.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, openSync, closeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig, type MountConfig, type RawOptions } from '../config/config.js';
import { checkAccountAccess, isWholeAccount, startAccountDaemon } from '../account-daemon.js';
import {
  ACCESS_CHECK_TIMEOUT_MS,
  buildStore,
  checkAccess,
  loadCredentials,
  startDaemon,
  type Daemon,
} from '../daemon.js';
import { SdkAccountStore } from '../s3/account-store.js';
import type { RefreshingCredentials } from '../s3/credential-refresh.js';
import { CredentialsError } from '../s3/credentials.js';
import type { SdkObjectStore } from '../s3/sdk-store.js';
import { CaBundleError, loadTlsSettings, type TlsSettings } from '../s3/tls.js';
import { Logger, Redactor, type LogSink } from '../log/logger.js';
import { findMount } from '../util/mountinfo.js';
import {
  checkFuseAvailable,
  checkMountpoint,
  describeAccessError,
  displayEndpoint,
  UserError,
} from './preflight.js';
import { clearDeadMount, isDeadMount } from './fusermount.js';
import { holdSignals, serve, type HeldSignals } from './serve.js';
import { logFile, pidFile } from './state-files.js';

/**
 * Marks the detached daemon: set in the child's environment, never on its command line,
 * where a `--` in the user's arguments would hide it and the child would detach again
 * (issue #15). Only believed with an IPC channel to the parent; removed at start so that
 * nothing the daemon runs inherits it.
 */
export const DAEMON_CHILD_ENV = 'S3MOUNT_DAEMON_CHILD';

/** bin/s3mount.js of this installation: what the detached child runs (argv[1] may be a helper). */
const S3MOUNT_BIN = fileURLToPath(new URL('../../bin/s3mount.js', import.meta.url));

/** Whether this process is the detached daemon started by detach(); clears the marker. */
export function takeDaemonChildMarker(env: NodeJS.ProcessEnv): boolean {
  const marked = env[DAEMON_CHILD_ENV] === '1';
  delete env.S3MOUNT_DAEMON_CHILD;
  return marked && typeof process.send === 'function';
}

type ChildMessage = { type: 'ready' } | { type: 'error'; message: string };

export async function mountCommand(
  bucketSpec: string,
  mountpoint: string,
  flags: RawOptions,
  env: NodeJS.ProcessEnv,
  argv: string[],
): Promise<number> {
  const cfg = resolveConfig(bucketSpec, mountpoint, flags, env);
  const isChild = takeDaemonChildMarker(env);
  if (!cfg.foreground && !isChild) return detach(cfg, env, argv);
  return runDaemon(cfg, env, isChild);
}

/** Starts this command again as a detached daemon and waits for its verdict. */
async function detach(cfg: MountConfig, env: NodeJS.ProcessEnv, argv: string[]): Promise<number> {
  const log = cfg.logFile ?? logFile(cfg.mountpoint, env);
  mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
  const fd = openSync(log, 'a', 0o600);
  const child = spawn(process.execPath, [...process.execArgv, S3MOUNT_BIN, ...argv], {
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
    env: { ...env, S3MOUNT_LOG_FILE: log, [DAEMON_CHILD_ENV]: '1' },
  });
  closeSync(fd);
  const verdict = await new Promise<ChildMessage>((resolve) => {
    child.once('message', (m: ChildMessage) => resolve(m));
    child.once('exit', (code, signal) =>
      resolve({
        type: 'error',
        message: `the daemon exited during start (${signal ?? `code ${code}`}); see ${log}`,
      }),
    );
    child.once('error', (e) => resolve({ type: 'error', message: `cannot start the daemon: ${e.message}` }));
  });
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  if (verdict.type === 'error') {
    process.stderr.write(`s3mount: ${verdict.message}\n`);
    return 1;
  }
  return 0;
}

function makeLogger(cfg: MountConfig, isChild: boolean, redactor: Redactor): Logger {
  let sink: LogSink = process.stderr;
  if (isChild || cfg.logFile !== undefined) {
    const path = cfg.logFile;
    if (path !== undefined) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      sink = createWriteStream(path, { flags: 'a', mode: 0o600 });
    }
  }
  return Logger.create(sink, cfg.logLevel, redactor);
}

async function runDaemon(cfg: MountConfig, env: NodeJS.ProcessEnv, isChild: boolean): Promise<number> {
  const wholeAccount = isWholeAccount(cfg);
  process.title = `s3mount ${wholeAccount ? '(every bucket)' : cfg.bucket} ${cfg.mountpoint}`;
  const redactor = new Redactor();
  redactor.add(env.AWS_SECRET_ACCESS_KEY);
  redactor.add(env.AWS_SESSION_TOKEN);
  const logger = makeLogger(cfg, isChild, redactor);
  const report = (m: ChildMessage) => {
    if (isChild && process.send) {
      process.send(m);
      process.disconnect();
    }
  };
  let store: SdkObjectStore | undefined;
  let daemon: Daemon;
  let held: HeldSignals | undefined;
  try {
    await checkFuseAvailable({ allowOther: cfg.allowOther });
    if ((await findMount(cfg.mountpoint))?.fstype === 'fuse.s3mount' && (await isDeadMount(cfg.mountpoint))) {
      // a killed daemon's mount: clear it; its staged files are recovered below like any restart's
      await clearDeadMount(cfg.mountpoint);
      logger.warn('cleared a dead mount left by a daemon that was killed', { mountpoint: cfg.mountpoint });
    }
    try {
      await checkMountpoint(cfg.mountpoint);
    } catch (err) {
      // `s3mount mybucket` (the mount point forgotten) reads as a whole-account mount on ./mybucket
      if (wholeAccount && err instanceof UserError)
        throw new UserError(`${err.message} (to mount one bucket: s3mount BUCKET MOUNTPOINT)`);
      throw err;
    }
    let credentials: RefreshingCredentials;
    try {
      ({ cfg, credentials } = await loadCredentials(cfg, env, homedir(), redactor, logger));
    } catch (err) {
      if (err instanceof CredentialsError) throw new UserError(err.message);
      throw err;
    }
    let tls: TlsSettings;
    try {
      tls = await loadTlsSettings(cfg.caBundle, env);
    } catch (err) {
      if (err instanceof CaBundleError) throw new UserError(err.message);
      throw err;
    }
    store = buildStore(cfg, credentials, tls);
    const account = wholeAccount ? new SdkAccountStore(store, cfg.region) : undefined;
    try {
      await (account
        ? checkAccountAccess(account)
        : checkAccess(store, Math.min(cfg.requestTimeoutMs, ACCESS_CHECK_TIMEOUT_MS)));
    } catch (err) {
      throw new UserError(describeAccessError(err, cfg.bucket, displayEndpoint(cfg.endpoint, cfg.region)));
    }
    held = holdSignals();
    daemon = account
      ? await startAccountDaemon(cfg, store, account, logger)
      : await startDaemon(cfg, store, logger);
  } catch (err) {
    held?.release();
    store?.destroy();
    const message =
      err instanceof UserError
        ? err.message
        : `mount failed: ${err instanceof Error ? err.message : String(err)}`;
    if (isChild) {
      logger.error(message);
      report({ type: 'error', message: redactor.redact(message) });
    } else {
      process.stderr.write(`s3mount: ${redactor.redact(message)}\n`);
    }
    return 1;
  }

  const pidPath = pidFile(cfg.mountpoint, env);
  if (isChild) {
    await mkdir(dirname(pidPath), { recursive: true, mode: 0o700 });
    await writeFile(pidPath, `${process.pid}\n`, { mode: 0o600 });
  }
  logger.info('mounted', {
    ...(wholeAccount ? { buckets: 'all' } : { bucket: cfg.bucket, prefix: cfg.prefix }),
    mountpoint: cfg.mountpoint,
  });
  report({ type: 'ready' });

  return serve({ cfg, env, daemon, logger, held, ...(isChild ? { pidPath } : {}) });
}
