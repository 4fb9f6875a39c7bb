// Where the S3 keys come from, in one order of precedence: a site's keys command, an
// s3fs passwd file, an AWS profile, the environment, s3fs's default files, the AWS chain.
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { loadSharedConfigFiles } from '@smithy/core/config';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** when the keys stop working, if the source says */
  expiration?: Date;
}

/** One place keys come from; `load` asks it again (re-runs the command, re-reads the file). */
export interface CredentialSource {
  /** for messages, never containing a secret: "--keys-command", "passwd file ~/.passwd-s3fs" */
  readonly describe: string;
  load(): Promise<Credentials>;
  /** a profile's endpoint_url (~/.aws/config), used when no --endpoint is given */
  readonly endpoint?: string;
}

/** A one-line reason why no keys could be had; never holds a secret or what a command printed. */
export class CredentialsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialsError';
  }
}

export interface CredentialOptions {
  keysCommand?: string;
  keysCommandTimeoutMs: number;
  passwdFile?: string;
  profile?: string;
  /** the mounted bucket, to pick a BUCKET:ACCESS:SECRET line; undefined for a whole-account mount */
  bucket?: string;
}

/** s3fs's default passwd files, in the order s3fs reads them */
const S3FS_DEFAULT_FILES = (home: string) => [join(home, '.passwd-s3fs'), '/etc/passwd-s3fs'];
/** the one system-wide file, where s3fs allows group permissions (a group of users may share keys) */
const S3FS_SYSTEM_FILE = '/etc/passwd-s3fs';
/** a keys command prints one short line; more than this is not keys */
const KEYS_OUTPUT_MAX_BYTES = 16 * 1024;

/**
 * The source by precedence: --keys-command, --passwd-file, --profile (or AWS_PROFILE),
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.passwd-s3fs, /etc/passwd-s3fs, then the rest
 * of the AWS chain (~/.aws default profile including credential_process, instance roles).
 */
export async function resolveCredentialSource(
  o: CredentialOptions,
  env: NodeJS.ProcessEnv,
  home: string,
): Promise<CredentialSource> {
  if (o.keysCommand !== undefined) return keysCommandSource(o.keysCommand, o.keysCommandTimeoutMs, env);
  if (o.passwdFile !== undefined) return passwdFileSource(o.passwdFile, o.bucket, false);
  if (o.profile === undefined) {
    const fromEnv = envSource(env);
    if (fromEnv) return fromEnv;
    for (const path of S3FS_DEFAULT_FILES(home)) {
      if (await exists(path)) return passwdFileSource(path, o.bucket, path === S3FS_SYSTEM_FILE);
    }
  }
  return sdkChainSource(o.profile, env);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false; // absent or unreadable directory: not a default place to use
  }
}

function envSource(env: NodeJS.ProcessEnv): CredentialSource | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env.AWS_SESSION_TOKEN;
  const creds: Credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  return { describe: 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY', load: () => Promise.resolve({ ...creds }) };
}

// ---- --keys-command ------------------------------------------------------------------

function keysCommandSource(command: string, timeoutMs: number, env: NodeJS.ProcessEnv): CredentialSource {
  return { describe: '--keys-command', load: () => runKeysCommand(command, timeoutMs, env) };
}

/** Runs CMD with sh; its stdout must be `ACCESS SECRET [TOKEN]` on one line. */
export function runKeysCommand(
  command: string,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
): Promise<Credentials> {
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(new CredentialsError(`--keys-command ${why}`, cause === undefined ? undefined : { cause }));
    // its own process group, so a timeout ends whatever the command started too
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
      env,
    });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let overflow = false;
    const timer = setTimeout(() => {
      killGroup(child.pid);
      fail(`did not finish within ${Math.round(timeoutMs / 1000)} s`);
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > KEYS_OUTPUT_MAX_BYTES) overflow = true;
      else chunks.push(c);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(`cannot be started (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        fail(`failed (${signal ?? `exit code ${code}`})`);
        return;
      }
      const creds = overflow ? undefined : parseKeysLine(Buffer.concat(chunks).toString('utf8'));
      if (!creds) fail('did not print ACCESS_KEY SECRET_KEY [SESSION_TOKEN] on one line');
      else resolve(creds);
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone: nothing left to end
  }
}

/** `ACCESS SECRET [TOKEN]` on one line (a trailing newline allowed); anything else: undefined. */
export function parseKeysLine(text: string): Credentials | undefined {
  const line = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(line)) return undefined;
  const fields = line.trim().split(/[ \t]+/);
  if (fields.length < 2 || fields.length > 3 || fields.some((f) => !/^[\x21-\x7e]+$/.test(f)))
    return undefined;
  const [accessKeyId, secretAccessKey, sessionToken] = fields as [string, string, string | undefined];
  return { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) };
}

// ---- s3fs passwd files -----------------------------------------------------------------

function passwdFileSource(path: string, bucket: string | undefined, groupMayRead: boolean): CredentialSource {
  return { describe: `passwd file ${path}`, load: () => readPasswdFile(path, bucket, groupMayRead) };
}

/**
 * Reads an s3fs passwd file: `ACCESS:SECRET` or `BUCKET:ACCESS:SECRET` lines (# comments);
 * a line for the bucket wins over a line without one. Refused, as s3fs does, when others
 * have any permission on it, or the group does (except on /etc/passwd-s3fs).
 */
export async function readPasswdFile(
  path: string,
  bucket: string | undefined,
  groupMayRead: boolean,
): Promise<Credentials> {
  let text: string;
  try {
    const st = await stat(path);
    const forbidden = groupMayRead ? 0o007 : 0o077;
    if ((st.mode & forbidden) !== 0)
      throw new CredentialsError(
        `passwd file ${path} is accessible by ${(st.mode & 0o070) !== 0 && !groupMayRead ? 'group' : 'others'} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${path}`,
      );
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof CredentialsError) throw err;
    throw new CredentialsError(
      `cannot read passwd file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: err },
    );
  }
  let anyBucket: Credentials | undefined;
  let forBucket: Credentials | undefined;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 2 || f.length > 3 || f.some((x) => x === '' || /\s/.test(x)))
      throw new CredentialsError(
        `passwd file ${path} line ${i + 1} is not ACCESS_KEY:SECRET_KEY or BUCKET:ACCESS_KEY:SECRET_KEY`,
      );
    if (f.length === 2) anyBucket ??= { accessKeyId: f[0] ?? '', secretAccessKey: f[1] ?? '' };
    else if (bucket !== undefined && f[0] === bucket)
      forBucket ??= { accessKeyId: f[1] ?? '', secretAccessKey: f[2] ?? '' };
  }
  const creds = forBucket ?? anyBucket;
  if (!creds)
    throw new CredentialsError(
      `passwd file ${path} has no ACCESS_KEY:SECRET_KEY line${bucket !== undefined ? ` and none for bucket "${bucket}"` : ''}`,
    );
  return creds;
}

// ---- the AWS SDK's chain ---------------------------------------------------------------

async function sdkChainSource(
  profile: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<CredentialSource> {
  const endpoint = await profileEndpoint(profile ?? env.AWS_PROFILE ?? 'default');
  return {
    describe: profile !== undefined ? `profile "${profile}"` : 'the AWS credential chain',
    // a new provider each time: files are read and credential_process run again
    load: async () => {
      try {
        const c = await defaultProvider(profile !== undefined ? { profile } : {})();
        return {
          accessKeyId: c.accessKeyId,
          secretAccessKey: c.secretAccessKey,
          ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}),
          ...(c.expiration !== undefined ? { expiration: c.expiration } : {}),
        };
      } catch (err) {
        throw new CredentialsError(
          profile !== undefined
            ? `no usable credentials in profile "${profile}" (~/.aws/credentials, ~/.aws/config)`
            : 'no AWS credentials found (use --keys-command, --passwd-file, --profile, ~/.passwd-s3fs or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)',
          { cause: err },
        );
      }
    },
    ...(endpoint !== undefined ? { endpoint } : {}),
  };
}

/** A profile's endpoint_url in ~/.aws/config or ~/.aws/credentials (AWS_CONFIG_FILE etc. honoured). */
async function profileEndpoint(profile: string): Promise<string | undefined> {
  try {
    const files = await loadSharedConfigFiles({ ignoreCache: true });
    const url = files.configFile[profile]?.endpoint_url ?? files.credentialsFile[profile]?.endpoint_url;
    return typeof url === 'string' && url !== '' ? url : undefined;
  } catch {
    return undefined; // unreadable files: the credential load reports what matters
  }
}
