// `s3mount share PATH... [--expires DURATION]`: a presigned GET URL for each file, one per
// line in order, made by the daemon of the mount the file is in (its endpoint and keys).
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { controlRequest, NoDaemonError } from '../control/client.js';
import type { ShareLink } from '../control/protocol.js';
import { ownS3mounts } from '../util/mountinfo.js';
import { parseExpires, SHARE_EXPIRES_DEFAULT_SEC } from './expires.js';
import { UserError } from './preflight.js';
import { socketFile } from './state-files.js';
import { locate } from './sync.js';

/** How long the daemon may take for one mount's paths (each is a HEAD, under its own deadline). */
const SHARE_TIMEOUT_MS = 120_000;

/** Seconds the links live: --expires, or the default; a bad value is a usage error (exit 2). */
export function expiresSeconds(expires: string | undefined): number {
  if (expires === undefined) return SHARE_EXPIRES_DEFAULT_SEC;
  const r = parseExpires(expires);
  if ('error' in r) throw new UserError(r.error, 2);
  return r.seconds;
}

/**
 * The path with its directories' symbolic links resolved, as the mount table has it (a
 * home directory is often a link to a parallel filesystem); as given if that fails.
 */
async function canonical(abs: string): Promise<string> {
  try {
    return join(await realpath(dirname(abs)), basename(abs));
  } catch {
    return abs; // a missing directory (or a dead mount): the path as given is all there is
  }
}

/** One answer per path, in order: the links of each mount asked of its daemon in one request. */
export async function shareAll(
  paths: string[],
  expiresSec: number,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<ShareLink[]> {
  const mounts = await ownS3mounts(process.getuid?.() ?? 0);
  const out: ShareLink[] = paths.map((p) => ({
    path: resolve(cwd, p),
    error: 'is not in an s3mount mount of yours',
  }));
  /** mount point → [index in `paths`, path inside the mount] */
  const byMount = new Map<string, [number, string][]>();
  for (const [i, l] of out.entries()) {
    // the mount table first: a path already in it needs no look at the filesystem
    const at = locate(mounts, l.path) ?? locate(mounts, await canonical(l.path));
    if (at) byMount.set(at.mount.mountpoint, [...(byMount.get(at.mount.mountpoint) ?? []), [i, at.inside]]);
  }
  for (const [mountpoint, items] of byMount) {
    let links: ShareLink[];
    try {
      const r = await controlRequest(
        socketFile(mountpoint, env),
        { op: 'share', paths: items.map(([, p]) => p), expiresSec },
        { timeoutMs: SHARE_TIMEOUT_MS },
      );
      links = r.links;
    } catch (err) {
      const error =
        err instanceof NoDaemonError
          ? `the daemon of ${mountpoint} does not answer (dead mount? run: s3mount unmount ${mountpoint})`
          : `the daemon of ${mountpoint}: ${err instanceof Error ? err.message : String(err)}`;
      links = items.map(([, p]) => ({ path: p, error }));
    }
    items.forEach(([i], j) => {
      const l = links[j];
      const path = out[i]?.path ?? '';
      out[i] =
        l === undefined
          ? { path, error: 'no answer from the daemon' }
          : 'url' in l
            ? { path, url: l.url }
            : { path, error: l.error };
    });
  }
  return out;
}

export async function shareCommand(
  paths: string[],
  expires: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const expiresSec = expiresSeconds(expires);
  const links = await shareAll(paths, expiresSec, process.cwd(), env);
  for (const l of links) {
    if ('url' in l) process.stdout.write(`${l.url}\n`);
    else process.stderr.write(`s3mount: cannot share ${l.path}: ${oneLine(l.error)}\n`);
  }
  return links.every((l) => 'url' in l) ? 0 : 1;
}

/** A reason from the daemon, on one line whatever it holds. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
