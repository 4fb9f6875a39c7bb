// The mount's daemon process: FUSE and the mount point checked, credentials and TLS
// loaded, the bucket checked on the server, then the mount served until it ends. Loaded
// by mount.ts only in the process that runs the daemon.
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import type { MountConfig } from '../config/config.js';
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
import { pidFile } from './state-files.js';

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

/** What the detached daemon tells its parent: mounted, or the one line that says why not. */
export type ChildMessage = { type: 'ready' } | { type: 'error'; message: string };

export async function runDaemon(cfg: MountConfig, env: NodeJS.ProcessEnv, isChild: boolean): Promise<number> {
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
