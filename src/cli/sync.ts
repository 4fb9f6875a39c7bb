// `s3mount sync [PATH...]`: the flush barrier. Returns once everything written under each
// PATH (default: the mount the current directory is in, else all of the user's mounts) is
// in S3; lists the files that could not be uploaded (they stay staged) and exits 1.
import { resolve } from 'node:path';
import { controlRequest, NoDaemonError } from '../control/client.js';
import type { ControlResults, NotUploaded } from '../control/protocol.js';
import { ownS3mounts, type MountEntry } from '../util/mountinfo.js';
import { UserError } from './preflight.js';
import { progressLine } from './progress.js';
import { socketFile } from './state-files.js';

/** The mount `path` lies in (the innermost), and its path inside that mount. */
export function locate(
  mounts: MountEntry[],
  path: string,
): { mount: MountEntry; inside: string } | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const within = path === m.mountpoint || path.startsWith(m.mountpoint === '/' ? '/' : `${m.mountpoint}/`);
    if (within && (!best || m.mountpoint.length > best.mountpoint.length)) best = m;
  }
  if (!best) return undefined;
  return { mount: best, inside: path === best.mountpoint ? '/' : path.slice(best.mountpoint.length) };
}

export interface SyncTarget {
  mountpoint: string;
  paths: string[];
}

export async function syncTargets(paths: string[], cwd: string): Promise<SyncTarget[]> {
  const mounts = await ownS3mounts(process.getuid?.() ?? 0);
  const byMount = new Map<string, string[]>();
  const add = (mp: string, p: string) => byMount.set(mp, [...(byMount.get(mp) ?? []), p]);
  if (paths.length === 0) {
    const here = locate(mounts, cwd);
    if (here) add(here.mount.mountpoint, '/');
    else for (const m of mounts) add(m.mountpoint, '/');
  }
  for (const p of paths) {
    const abs = resolve(cwd, p);
    const at = locate(mounts, abs);
    if (!at) throw new UserError(`${abs} is not in an s3mount mount of yours`);
    add(at.mount.mountpoint, at.inside);
  }
  return [...byMount].map(([mountpoint, ps]) => ({ mountpoint, paths: ps }));
}

/** Syncs each target; returns the files that could not be uploaded, with their mount paths. */
export async function syncAll(
  targets: SyncTarget[],
  env: NodeJS.ProcessEnv,
  progress: NodeJS.WriteStream,
): Promise<NotUploaded[]> {
  const failed: NotUploaded[] = [];
  for (const t of targets) {
    const r = await askDaemon(t, env, progress, 'uploading', 'sync');
    const mp = t.mountpoint === '/' ? '' : t.mountpoint;
    failed.push(...r.failed.map((f) => ({ ...f, path: mp + f.path })));
  }
  return failed;
}

/**
 * Sends a target's paths to its mount's daemon (`sync` or `verify`), showing its progress
 * on a line of `progress`; a daemon that does not answer is one clear line.
 */
export async function askDaemon<Op extends 'sync' | 'verify'>(
  t: SyncTarget,
  env: NodeJS.ProcessEnv,
  progress: NodeJS.WriteStream,
  doing: string,
  op: Op,
): Promise<ControlResults[Op]> {
  const line = progressLine(progress, `${doing} ${t.mountpoint}`);
  try {
    return (await controlRequest(
      socketFile(t.mountpoint, env),
      { op, paths: t.paths },
      { onProgress: (p) => line.update(p) },
    )) as ControlResults[Op];
  } catch (err) {
    if (err instanceof NoDaemonError)
      throw new UserError(
        `the daemon of ${t.mountpoint} does not answer (dead mount? run: s3mount unmount ${t.mountpoint})`,
      );
    throw err;
  } finally {
    line.done();
  }
}

export function reportNotUploaded(out: NodeJS.WritableStream, failed: NotUploaded[]): void {
  if (failed.length === 0) return;
  out.write(
    `s3mount: ${failed.length} file${failed.length === 1 ? '' : 's'} could not be uploaded; ` +
      `they stay staged and are tried again when written again or at the next mount of the same bucket:\n`,
  );
  for (const f of failed) out.write(`  ${f.path}\t${f.reason}\t(staged: ${f.stagedPath})\n`);
}

export async function syncCommand(paths: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const targets = await syncTargets(paths, process.cwd());
  if (targets.length === 0) throw new UserError('no s3mount mounts to sync');
  const failed = await syncAll(targets, env, process.stderr);
  reportNotUploaded(process.stderr, failed);
  return failed.length > 0 ? 1 : 0;
}
