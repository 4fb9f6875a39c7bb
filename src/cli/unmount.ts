// `s3mount unmount [--force] MOUNTPOINT`: unmounts, then waits for the daemon to upload
// what is pending (progress on a terminal) and exit; --force leaves it staged. A dead
// mount (its daemon was killed) is cleared.
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { controlRequest, DaemonGoneError, NoDaemonError } from '../control/client.js';
import type { MountStatus, NotUploaded, UnmountResult } from '../control/protocol.js';
import { findMount } from '../util/mountinfo.js';
import { processAlive } from '../util/process.js';
import { clearDeadMount, fusermount, isDeadMount } from './fusermount.js';
import { UserError } from './preflight.js';
import { progressLine } from './progress.js';
import { pidFile, socketFile } from './state-files.js';

/** How long a status request may take before the daemon counts as not answering. */
export const STATUS_TIMEOUT_MS = 10_000;

export interface UnmountOutcome {
  /** files left staged: they are uploaded by the next mount of the same bucket */
  staged: NotUploaded[];
  stagingDir?: string;
}

async function statusOrUndefined(socket: string): Promise<MountStatus | undefined> {
  try {
    return await controlRequest(socket, { op: 'status' }, { timeoutMs: STATUS_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof NoDaemonError) return undefined;
    throw err;
  }
}

async function waitForExit(pid: number, mp: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline)
      throw new UserError(`unmounted ${mp}, but its daemon (pid ${pid}) has not exited yet`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Unmounts and waits; the caller prints the outcome. */
export async function unmountMount(
  mountpoint: string,
  env: NodeJS.ProcessEnv,
  opts: { force: boolean; progress?: NodeJS.WriteStream; waitMs?: number; lazyIfBusy?: boolean },
): Promise<UnmountOutcome> {
  const mp = resolve(mountpoint);
  const waitMs = opts.waitMs ?? 24 * 3600_000;
  const m = await findMount(mp);
  if (!m) throw new UserError(`${mp} is not mounted`);
  if (await isDeadMount(mp)) {
    await clearDeadMount(mp);
    process.stderr.write(
      `s3mount: cleared the dead mount at ${mp} (its daemon was gone); files it had staged are uploaded by the next mount of the same bucket\n`,
    );
    return { staged: [] };
  }
  const socket = socketFile(mp, env);
  const status = await statusOrUndefined(socket);
  if (!status) {
    // no control socket (another user's mount, or a daemon from before it): the pid file
    let pid: number | undefined;
    try {
      pid = Number((await readFile(pidFile(mp, env), 'utf8')).trim()) || undefined;
    } catch {
      pid = undefined; // a foreground mount or another user's: nothing to wait for
    }
    await fusermount(mp);
    if (pid !== undefined) await waitForExit(pid, mp, waitMs);
    return { staged: [] };
  }
  try {
    await fusermount(mp);
  } catch (err) {
    if (!opts.lazyIfBusy) throw err;
    // `s3mount run`: a process the command left behind holds the mount; detach it anyway
    process.stderr.write(`s3mount: ${err instanceof Error ? err.message : String(err)}; unmounting lazily\n`);
    await fusermount(mp, true);
  }
  const line = progressLine(opts.progress ?? process.stderr, `uploading before unmount of ${mp}`);
  let result: UnmountResult | undefined;
  try {
    result = await controlRequest(
      socket,
      { op: 'unmount', force: opts.force },
      { onProgress: (p) => line.update(p) },
    );
  } catch (err) {
    // the daemon saw the unmount and stopped on its own before (or while) it was asked
    if (!(err instanceof NoDaemonError) && !(err instanceof DaemonGoneError)) throw err;
  } finally {
    line.done();
  }
  await waitForExit(status.pid, mp, waitMs);
  // without its answer, what it left staged is read from its staging directory
  const staged = result?.staged ?? (await leftStaged(status.stagingDir));
  return { staged, stagingDir: result?.stagingDir ?? status.stagingDir };
}

/** The files a stopped daemon left in its staging directory (by their manifest records). */
async function leftStaged(dir: string): Promise<NotUploaded[]> {
  const out: NotUploaded[] = [];
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
    try {
      // the staging area's record (write/types.ts StagedRecord): the fields read here
      const record = JSON.parse(await readFile(join(dir, name), 'utf8')) as { id: string; key: string };
      const stagedPath = join(dir, `${record.id}.data`);
      out.push({ path: record.key, stagedPath, reason: 'left staged by the daemon (its log says why)' });
    } catch {
      // a record being removed as the daemon finished: not staged
    }
  }
  return out;
}

/** Prints the files left staged, one a line, and where they are. */
export function reportStaged(out: NodeJS.WritableStream, o: UnmountOutcome, why: string): void {
  if (o.staged.length === 0) return;
  out.write(
    `s3mount: ${o.staged.length} file${o.staged.length === 1 ? '' : 's'} ${why}; ` +
      `they stay staged${o.stagingDir ? ` in ${o.stagingDir}` : ''} and the next mount of the same bucket uploads them (never deleted):\n`,
  );
  for (const f of o.staged) out.write(`  ${f.path}\t${f.reason}\t(staged: ${f.stagedPath})\n`);
}

export async function unmountCommand(
  mountpoint: string,
  env: NodeJS.ProcessEnv,
  force = false,
): Promise<number> {
  const outcome = await unmountMount(mountpoint, env, { force });
  reportStaged(process.stderr, outcome, force ? 'not uploaded (--force)' : 'could not be uploaded');
  return outcome.staged.length > 0 && !force ? 1 : 0;
}
