// Unmounting a FUSE mount as its user (fusermount3, or fusermount), and clearing a dead
// mount: one whose daemon was killed, left as "Transport endpoint is not connected".
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { UserError } from './preflight.js';

const run = promisify(execFile);

/** `fusermount -u MP` (with `lazy`: -uz, detaches even if busy); a busy mount is one clear line. */
export async function fusermount(mp: string, lazy = false): Promise<void> {
  let last: unknown;
  for (const cmd of ['fusermount3', 'fusermount']) {
    try {
      await run(cmd, [lazy ? '-uz' : '-u', mp]);
      return;
    } catch (e) {
      last = e;
      if ((e as { code?: string }).code === 'ENOENT') continue; // that binary is not installed
      const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
      if (/busy/i.test(stderr))
        throw new UserError(
          `${mp} is busy (a process has a file or directory open in it); close it, or use: umount -l ${mp}`,
        );
      throw new UserError(`cannot unmount ${mp}: ${stderr || (e as Error).message}`);
    }
  }
  throw new UserError(
    `cannot unmount ${mp}: neither fusermount3 nor fusermount is installed (${String(last)})`,
  );
}

/** Whether the mount at `mp` is dead: its daemon is gone and every access fails with ENOTCONN. */
export async function isDeadMount(mp: string): Promise<boolean> {
  try {
    await stat(mp);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === 'ENOTCONN';
  }
}

/** Unmounts a dead mount (lazily: a process may still have its cwd in it). */
export async function clearDeadMount(mp: string): Promise<void> {
  await fusermount(mp, true);
}
