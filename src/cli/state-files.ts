// Per-mount state files: the detached daemon's log and pid file, named after the mount point.
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
