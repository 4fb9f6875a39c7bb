// The mount command: the options checked, then the daemon run here (--foreground) or in a
// detached child that reports "ready" or its one-line error over IPC before the parent
// exits. The daemon's code (the S3 SDK and everything that serves the mount) is loaded
// only in the process that runs it: the parent that detaches, and a mount refused for a
// bad option, start in a fraction of the CPU time (mount-daemon.ts).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig, type MountConfig, type RawOptions } from '../config/config.js';
import type { ChildMessage } from './mount-daemon.js';
import { logFile } from './state-files.js';

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
  const { runDaemon } = await import('./mount-daemon.js');
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
