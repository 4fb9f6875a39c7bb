// Preflight: checks a mount can succeed before anything is mounted, and phrases each
// failure as the one line a user sees. Local checks here; the bucket check via daemon.ts.
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { isStoreError } from '../s3/errors.js';
import { describeTlsFailure } from '../s3/tls.js';
import { findMount } from '../util/mountinfo.js';
import { fuseProblem, systemProbes, type FuseProbes } from './fuse-access.js';

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as { code?: string }).code : undefined;
}

/** Throws the one real reason (fuse-access.ts) why this user cannot mount FUSE here. */
export async function checkFuseAvailable(
  opts: { allowOther: boolean },
  probes: FuseProbes = systemProbes(process.env),
): Promise<void> {
  const problem = await fuseProblem(probes, opts);
  if (problem !== undefined) throw new UserError(problem);
}

export async function checkMountpoint(mp: string): Promise<void> {
  const m = await findMount(mp);
  if (m) {
    throw new UserError(
      `mount point ${mp} is already mounted (${m.fstype} ${m.source}); run: s3mount unmount ${mp}`,
    );
  }
  let st;
  try {
    st = await stat(mp);
  } catch (e) {
    switch (errCode(e)) {
      case 'ENOENT':
        throw new UserError(`mount point ${mp} does not exist (create it with: mkdir -p ${mp})`);
      case 'ENOTCONN':
        throw new UserError(
          `mount point ${mp} is a dead mount (transport endpoint is not connected); run: s3mount unmount ${mp}`,
        );
      case 'EACCES':
        throw new UserError(`mount point ${mp}: permission denied`);
      default:
        throw new UserError(`mount point ${mp}: ${(e as Error).message}`);
    }
  }
  if (!st.isDirectory()) throw new UserError(`mount point ${mp} is not a directory`);
  try {
    await access(mp, constants.W_OK | constants.X_OK);
  } catch {
    throw new UserError(`mount point ${mp}: no write permission (FUSE needs it to mount)`);
  }
  const entries = await readdir(mp);
  if (entries.length > 0)
    throw new UserError(
      `mount point ${mp} is not empty (${entries.length} entries); mount on an empty directory`,
    );
}

/** One line for a failed bucket check (no credentials in it); bucket '': the listing of a whole-account mount. */
export function describeAccessError(err: unknown, bucket: string, endpoint: string): string {
  const tls = describeTlsFailure(err, endpoint);
  if (tls !== undefined) return tls;
  if (bucket === '' && isStoreError(err, 'AccessDenied'))
    return `listing the buckets at ${endpoint} is denied for these credentials (mount one bucket: s3mount BUCKET MOUNTPOINT)`;
  if (
    bucket === '' &&
    isStoreError(err) &&
    !['InvalidCredentials', 'Unreachable', 'Timeout', 'InvalidResponse'].includes(err.kind)
  )
    return `cannot list the buckets at ${endpoint}: ${err.message}`;
  if (!isStoreError(err))
    return `cannot check bucket "${bucket}": ${err instanceof Error ? err.message : String(err)}`;
  switch (err.kind) {
    case 'NoSuchBucket':
    case 'NotFound':
      return `bucket "${bucket}" does not exist at ${endpoint}`;
    case 'InvalidCredentials':
      return err.detail.code && err.detail.code !== 'CredentialsProviderError'
        ? `the S3 server at ${endpoint} rejected the credentials (${err.detail.code})`
        : err.message;
    case 'AccessDenied':
      return `access to bucket "${bucket}" at ${endpoint} is denied for these credentials`;
    case 'Unreachable':
      return `cannot reach the S3 endpoint ${endpoint} (${err.detail.code ?? err.message})`;
    case 'Timeout':
      return `the S3 endpoint ${endpoint} did not answer in time (${err.message})`;
    case 'InvalidResponse':
      return `${endpoint} does not answer as an S3 server: ${err.message}`;
    default:
      return `cannot use bucket "${bucket}" at ${endpoint}: ${err.message}`;
  }
}

/** The endpoint as shown to users: without any user:password part. */
export function displayEndpoint(endpoint: string | undefined, region: string): string {
  if (endpoint === undefined) return `AWS S3 (${region})`;
  try {
    const u = new URL(endpoint);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid endpoint)';
  }
}
