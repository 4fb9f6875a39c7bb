// Per-mount state files: the detached daemon's log and pid file and every daemon's control
// socket, named after the mount point, in the user's state directory.
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function stateDir(env: NodeJS.ProcessEnv): string {
  const base =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 's3mount');
}

function slug(mountpoint: string): string {
  return mountpoint.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'root';
}

export function pidFile(mountpoint: string, env: NodeJS.ProcessEnv): string {
  return join(stateDir(env), `${slug(mountpoint)}.pid`);
}

export function logFile(mountpoint: string, env: NodeJS.ProcessEnv): string {
  return join(stateDir(env), `${slug(mountpoint)}.log`);
}

/** sun_path holds 108 bytes: a socket whose path would be longer is named by a hash instead. */
const SOCKET_PATH_MAX_BYTES = 100;

/** The daemon's control socket (control/server.ts), in the state directory (mode 0700). */
export function socketFile(mountpoint: string, env: NodeJS.ProcessEnv): string {
  const named = join(stateDir(env), `${slug(mountpoint)}.sock`);
  if (Buffer.byteLength(named) <= SOCKET_PATH_MAX_BYTES) return named;
  return join(stateDir(env), `${createHash('sha256').update(mountpoint).digest('hex').slice(0, 16)}.sock`);
}
