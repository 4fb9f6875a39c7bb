// The process's soft limit on open descriptors (RLIMIT_NOFILE), read from /proc: what
// long-lived descriptors (the disk cache's mapped block files) must stay well under.
import { readFileSync } from 'node:fs';

/** the soft limit on open files; `fallback` when it cannot be read (or is unlimited) */
export function openFilesLimit(fallback = 1024, limits = '/proc/self/limits'): number {
  try {
    const line = readFileSync(limits, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : fallback;
  } catch {
    return fallback;
  }
}
