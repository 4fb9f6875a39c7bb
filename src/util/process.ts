// Small process helpers.

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: gone (EPERM would mean alive but not ours; the daemon is ours)
  }
}
