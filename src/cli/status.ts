// `s3mount status [MOUNTPOINT] [--json]`: asks each of the user's s3mount mounts (from the
// mount table) over its control socket how it is doing, and prints the answers.
import { resolve } from 'node:path';
import { controlRequest, NoDaemonError } from '../control/client.js';
import type { MountStatus } from '../control/protocol.js';
import { ownS3mounts } from '../util/mountinfo.js';
import { UserError } from './preflight.js';
import { formatBytes } from './progress.js';
import { socketFile } from './state-files.js';
import { STATUS_TIMEOUT_MS } from './unmount.js';

/** One mount's answer, or why there is none. */
export type StatusEntry = MountStatus | { mountpoint: string; error: string };

export async function collectStatus(env: NodeJS.ProcessEnv, mountpoint?: string): Promise<StatusEntry[]> {
  const uid = process.getuid?.() ?? 0;
  let mounts = await ownS3mounts(uid);
  if (mountpoint !== undefined) {
    const mp = resolve(mountpoint);
    mounts = mounts.filter((m) => m.mountpoint === mp);
    if (mounts.length === 0) throw new UserError(`${mp} is not an s3mount mount of yours`);
  }
  return Promise.all(
    mounts.map(async (m): Promise<StatusEntry> => {
      try {
        return await controlRequest(
          socketFile(m.mountpoint, env),
          { op: 'status' },
          { timeoutMs: STATUS_TIMEOUT_MS },
        );
      } catch (err) {
        const error =
          err instanceof NoDaemonError
            ? `its daemon does not answer (dead mount? run: s3mount unmount ${m.mountpoint})`
            : err instanceof Error
              ? err.message
              : String(err);
        return { mountpoint: m.mountpoint, error };
      }
    }),
  );
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

function counts(r: Record<string, number>): string {
  const e = Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
  return e.length === 0 ? 'none' : e.map(([k, n]) => `${k} ${n}`).join(', ');
}

export function formatStatus(e: StatusEntry, nowMs: number): string {
  if ('error' in e) return `${e.mountpoint}\n  ${e.error}\n`;
  const errors: Record<string, number> = {};
  for (const [op, byKind] of Object.entries(e.s3.errors))
    for (const [kind, n] of Object.entries(byKind)) errors[`${op} ${kind}`] = n;
  const u = e.uploads;
  const lines = [
    e.mountpoint,
    `  bucket     ${e.bucket === '' ? '(every bucket)' : `${e.bucket}${e.prefix ? `:${e.prefix}` : ''}`} at ${e.endpoint}`,
    `  daemon     pid ${e.pid}, up ${duration(e.uptimeMs)}`,
    `  cache      ${formatBytes(e.cache.usedBytes)} of ${formatBytes(e.cache.sizeBytes)}, hit ratio ${(e.cache.hitRatio * 100).toFixed(1)}% (${e.cache.hits} hits, ${e.cache.misses} misses)`,
    ...(e.diskCache
      ? [
          `  disk cache ${formatBytes(e.diskCache.usedBytes)} of ${formatBytes(e.diskCache.sizeBytes)} in ${e.diskCache.dir}: ${e.diskCache.hits} hits, ${e.diskCache.misses} misses, ${e.diskCache.corrupt} damaged blocks dropped; ${e.diskCache.fileReads} reads answered from ${e.diskCache.mappedFiles} open block files`,
        ]
      : []),
    `  files      ${formatBytes(e.bytes.read)} read, ${formatBytes(e.bytes.written)} written`,
    `  S3         ${formatBytes(e.s3.downloadedBytes)} downloaded, ${formatBytes(e.s3.uploadedBytes)} uploaded`,
    `  requests   ${counts(e.s3.requests)}`,
    `  errors     ${counts(errors)}`,
    `  uploads    ${u.pendingFiles} file${u.pendingFiles === 1 ? '' : 's'} pending (${formatBytes(u.pendingBytes)})` +
      (u.oldestSinceMs !== undefined ? `, oldest waiting ${duration(nowMs - u.oldestSinceMs)}` : ''),
  ];
  const p = e.s3.pacing;
  if (p && (p.throttled > 0 || p.retries > 0))
    lines.push(
      `  pacing     ${p.retries} retries, ${p.throttled} slow-downs, ` +
        (p.rateLimitPerS !== undefined ? `limited to ${p.rateLimitPerS} requests/s` : 'not limited now') +
        (p.delayedRequests > 0 ? `, ${p.delayedRequests} requests held back` : ''),
    );
  if (u.lastError) lines.push(`  last error ${u.lastError.path}: ${u.lastError.reason}`);
  for (const f of u.files.filter((f) => f.parked))
    lines.push(`  not uploadable: ${f.path} (${f.lastError ?? 'failed'}; staged: ${f.stagedPath})`);
  return lines.join('\n') + '\n';
}

export async function statusCommand(
  env: NodeJS.ProcessEnv,
  mountpoint: string | undefined,
  json: boolean,
): Promise<number> {
  const entries = await collectStatus(env, mountpoint);
  if (json) process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
  else if (entries.length === 0) process.stdout.write('no s3mount mounts\n');
  else process.stdout.write(entries.map((e) => formatStatus(e, Date.now())).join('\n'));
  return entries.some((e) => 'error' in e) ? 1 : 0;
}
