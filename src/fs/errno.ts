// The errno policy: every error the filesystem core can produce, mapped to one errno
// and one log level, in this file only. The FUSE adapter just applies the result.
import { constants } from 'node:os';
import { isStoreError, type StoreErrorKind } from '../s3/errors.js';

export type ErrnoCode =
  | 'ENOENT'
  | 'EIO'
  | 'EACCES'
  | 'EPERM'
  | 'ESTALE'
  | 'ETIMEDOUT'
  | 'EISDIR'
  | 'ENOTDIR'
  | 'EROFS'
  | 'EEXIST'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'EBADF'
  | 'ENOSPC'
  | 'EFBIG'
  | 'ENOSYS'
  | 'EOPNOTSUPP'
  | 'ENAMETOOLONG'
  | 'EXDEV'
  | 'ENOTSUP'
  | 'ENODATA'
  | 'EDQUOT'
  | 'EBUSY';

export type LogLevelForError = 'debug' | 'info' | 'warn' | 'error';

/** An error the core raises on purpose; `code` is what the caller of the syscall sees. */
export class FsError extends Error {
  constructor(
    readonly code: ErrnoCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FsError';
  }
}

export function fsError(
  code: ErrnoCode,
  message: string,
  detail: Record<string, unknown> = {},
  cause?: unknown,
): FsError {
  return new FsError(code, message, detail, cause === undefined ? undefined : { cause });
}

const STORE_ERRNO: Record<StoreErrorKind, ErrnoCode> = {
  NotFound: 'ENOENT',
  NoSuchBucket: 'EIO',
  AccessDenied: 'EACCES',
  InvalidCredentials: 'EACCES',
  PreconditionFailed: 'ESTALE',
  InvalidRange: 'EIO',
  Unreachable: 'EIO',
  Timeout: 'ETIMEDOUT',
  Throttled: 'EIO',
  EntityTooLarge: 'EFBIG',
  QuotaExceeded: 'ENOSPC',
  NotImplemented: 'EOPNOTSUPP',
  InvalidResponse: 'EIO',
  InvalidKey: 'ENAMETOOLONG',
  InvalidRequest: 'EIO',
  BucketExists: 'EEXIST',
  BucketNotEmpty: 'ENOTEMPTY',
  InvalidBucketName: 'EINVAL',
  Other: 'EIO',
};

/** Expected outcomes of ordinary tool use: not worth more than a debug line. */
const QUIET: ReadonlySet<ErrnoCode> = new Set([
  'ENOENT',
  'EEXIST',
  'ENAMETOOLONG',
  'ENOTEMPTY',
  'ENOTDIR',
  'EISDIR',
  'ENODATA',
  'ENOSYS',
  'EOPNOTSUPP',
  'ENOTSUP',
  'EROFS',
]);

/**
 * Refusals a user meets in ordinary use and should be able to read why in the log: a
 * cross-bucket `mv` (EXDEV, after which mv copies), a file at the root of a whole-account
 * mount (EPERM).
 */
const INFO: ReadonlySet<ErrnoCode> = new Set(['EXDEV', 'EPERM']);
/** The S3 answers to mkdir/rmdir at the root of a whole-account mount: the user's doing, not a fault. */
const STORE_INFO: ReadonlySet<StoreErrorKind> = new Set<StoreErrorKind>([
  'BucketExists',
  'BucketNotEmpty',
  'InvalidBucketName',
]);

/**
 * Errors of the local disk (the staging area, written with node:fs) that tell the caller
 * something it can act on: passed through as they are, as the native write path does
 * (its pwrite's errno); EFBIG is also what a staged file says past 5 TiB (staging.ts).
 * Any other node:fs error is EIO.
 */
const LOCAL_DISK: ReadonlySet<string> = new Set<ErrnoCode>(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** `err.code` of a node:fs error (a string such as 'ENOSPC'), if it is one of LOCAL_DISK. */
function localDiskCode(err: unknown): ErrnoCode | undefined {
  if (!(err instanceof Error) || !('code' in err) || typeof err.code !== 'string') return undefined;
  return LOCAL_DISK.has(err.code) ? (err.code as ErrnoCode) : undefined;
}

export interface ErrnoDecision {
  code: ErrnoCode;
  /** negative errno number as FUSE wants it */
  errno: number;
  level: LogLevelForError;
}

export function errnoNumber(code: ErrnoCode): number {
  const n = (constants.errno as Record<string, number | undefined>)[code];
  return -(n ?? constants.errno.EIO);
}

export function toErrno(err: unknown): ErrnoDecision {
  let code: ErrnoCode;
  let level: LogLevelForError;
  const local = localDiskCode(err);
  if (err instanceof FsError) {
    code = err.code;
    level = QUIET.has(code) ? 'debug' : INFO.has(code) ? 'info' : 'warn';
  } else if (isStoreError(err)) {
    code = STORE_ERRNO[err.kind];
    level =
      err.kind === 'NotFound'
        ? 'debug'
        : STORE_INFO.has(err.kind)
          ? 'info'
          : err.kind === 'PreconditionFailed'
            ? 'warn'
            : 'error';
  } else if (local !== undefined) {
    code = local;
    level = 'warn'; // the staging disk is full: the user's to fix, not a bug
  } else {
    code = 'EIO'; // a bug: say so loudly
    level = 'error';
  }
  return { code, errno: errnoNumber(code), level };
}
