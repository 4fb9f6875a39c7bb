// `s3mount verify PATH...`: asks the daemon of each PATH's mount to re-read the objects
// (directories: everything below) from S3 and check them against their stored SHA-256.
// One line per file on stdout; exit 1 on any mismatch, error or file not uploaded yet.
import type { VerifyEntry, VerifyStatus } from '../control/protocol.js';
import { UserError } from './preflight.js';
import { askDaemon, syncTargets } from './sync.js';

const LABELS: Record<VerifyStatus, string> = {
  ok: 'OK',
  mismatch: 'MISMATCH',
  'no-checksum': 'NO-CHECKSUM',
  staged: 'STAGED',
  skipped: 'SKIPPED',
  error: 'ERROR',
};

/** One output line: `LABEL path`, with the detail after it for the ones that are not OK. */
export function formatEntry(e: VerifyEntry): string {
  const label = LABELS[e.status];
  if (e.detail === undefined || e.status === 'ok') return `${label} ${e.path}`;
  return e.status === 'error' ? `${label} ${e.path}: ${e.detail}` : `${label} ${e.path} (${e.detail})`;
}

/** Whether an entry makes the command fail. */
export function failsVerify(e: VerifyEntry, requireChecksum: boolean): boolean {
  switch (e.status) {
    case 'ok':
    case 'skipped':
      return false;
    case 'no-checksum':
      return requireChecksum;
    case 'mismatch':
    case 'staged':
    case 'error':
      return true;
    default:
      return exhaustive(e.status);
  }
}

function exhaustive(x: never): never {
  throw new Error(`unexpected verify status ${String(x)}`);
}

export async function verifyCommand(
  paths: string[],
  requireChecksum: boolean,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  if (paths.length === 0) throw new UserError('verify: name the files or directories to verify', 2);
  const targets = await syncTargets(paths, process.cwd());
  const entries: VerifyEntry[] = [];
  for (const t of targets) {
    const r = await askDaemon(t, env, process.stderr, 'verifying', 'verify');
    const mp = t.mountpoint === '/' ? '' : t.mountpoint;
    entries.push(...r.entries.map((e) => ({ ...e, path: mp + (e.path === '/' ? '' : e.path) || '/' })));
  }
  for (const e of entries) process.stdout.write(formatEntry(e) + '\n');
  const count = (s: VerifyStatus) => entries.filter((e) => e.status === s).length;
  const failed = entries.filter((e) => failsVerify(e, requireChecksum)).length;
  const noChecksum = count('no-checksum');
  process.stderr.write(
    `s3mount verify: ${count('ok')} OK, ${count('mismatch')} mismatched, ${noChecksum} without checksum, ` +
      `${count('staged')} not uploaded yet, ${count('error')} errors\n`,
  );
  if (noChecksum > 0 && !requireChecksum)
    process.stderr.write(
      `s3mount verify: ${noChecksum} object${noChecksum === 1 ? ' has' : 's have'} no stored SHA-256 ` +
        `(put by another client, or an upload that could not store it): not checked; ` +
        `--require-checksum makes that a failure\n`,
    );
  return failed > 0 ? 1 : 0;
}
