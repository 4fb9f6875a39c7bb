// `s3mount unmount MOUNTPOINT`: asks the kernel to unmount, then waits for the daemon
// to finish (it may still be uploading) so that afterwards everything is in S3.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { findMount } from '../util/mountinfo.js';
import { processAlive } from '../util/process.js';
import { UserError } from './preflight.js';
import { pidFile } from './state-files.js';

const run = promisify(execFile);

async function fusermount(mp: string): Promise<void> {
  let last: unknown;
  for (const cmd of ['fusermount3', 'fusermount']) {
    try {
      await run(cmd, ['-u', mp]);
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

export async function unmountCommand(
  mountpoint: string,
  env: NodeJS.ProcessEnv,
  waitMs = 10 * 60_000,
): Promise<void> {
  const mp = resolve(mountpoint);
  const m = await findMount(mp);
  if (!m) throw new UserError(`${mp} is not mounted`);
  let pid: number | undefined;
  try {
    pid = Number((await readFile(pidFile(mp, env), 'utf8')).trim()) || undefined;
  } catch {
    pid = undefined; // a foreground mount or another user's: nothing to wait for
  }
  await fusermount(mp);
  if (pid === undefined) return;
  const deadline = Date.now() + waitMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline)
      throw new UserError(`unmounted ${mp}, but its daemon (pid ${pid}) has not exited yet`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
