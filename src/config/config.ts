// MountConfig: the resolved, typed configuration of one mount (flags > env > defaults).
// Built once in cli/ from the option table; everything downstream takes plain fields.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { LOG_LEVELS, type LogLevel } from '../log/logger.js';
import { OPTIONS, type OptionDef } from './options.js';
import {
  ConfigError,
  parseBoolean,
  parseBucketSpec,
  parseBytes,
  parseMode,
  parseNumber,
  parseSeconds,
} from './parse.js';

export interface MountConfig {
  /** '' for a whole-account mount (`s3mount MOUNTPOINT`): every bucket the keys can see */
  bucket: string;
  prefix: string;
  mountpoint: string;
  endpoint?: string;
  region: string;
  /** default: path style with a custom endpoint (also one from a profile), virtual-hosted for AWS */
  pathStyle: boolean;
  /** --path-style or --no-path-style was given */
  pathStyleGiven: boolean;
  profile?: string;
  keysCommand?: string;
  keysCommandTimeoutMs: number;
  passwdFile?: string;
  /** PEM file of extra CAs for https endpoints (--ca-bundle, AWS_CA_BUNDLE) */
  caBundle?: string;
  maxRequests: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** an attempt silent this long (first byte, or in a body) fails and is retried */
  idleTimeoutMs: number;
  foreground: boolean;
  readOnly: boolean;
  allowOther: boolean;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  /** the fast paths in native/fuse-native (--no-native: every op in JavaScript) */
  native: boolean;
  memoryLimitBytes: number;
  /** block cache; the rest of the memory budget is planned in core.ts (planMemory) */
  cacheBytes: number;
  /** --cache-dir: the persistent block cache on local disk, off when undefined */
  cacheDir?: string;
  cacheDirBytes: number;
  blockBytes: number;
  readAheadBytes: number;
  /** small files of a listed directory fetched ahead of a reader going through them (0: off) */
  smallFileLookahead: number;
  requestBytes: number;
  metadataTtlMs: number;
  negativeTtlMs: number;
  /** --recursive-list: most keys a directory walk's subtree listing takes (0: off); memory bounds it too (core.ts) */
  recursiveListKeys: number;
  objectMetadata: boolean;
  directIo: boolean;
  stagingDir: string;
  writeBack: boolean;
  partBytes: number;
  uploadConcurrency: number;
  copyThresholdBytes: number;
  logLevel: LogLevel;
  logFile?: string;
}

export type RawOptions = Record<string, string | number | boolean | undefined>;

/** Picks each option's raw value: the flag if given, else its env var, else its default. */
function raw(def: OptionDef, flags: RawOptions, env: NodeJS.ProcessEnv): string | undefined {
  const v = flags[def.name];
  if (v !== undefined) return String(v);
  if (def.env !== undefined) {
    const e = env[def.env];
    if (e !== undefined && e !== '') return e;
  }
  return def.default === undefined ? undefined : String(def.default);
}

/** `bucketSpec` '' mounts the whole account. */
export function resolveConfig(
  bucketSpec: string,
  mountpoint: string,
  flags: RawOptions,
  env: NodeJS.ProcessEnv,
): MountConfig {
  const values = new Map<string, string | undefined>(OPTIONS.map((d) => [d.name, raw(d, flags, env)]));
  const str = (n: string) => values.get(n);
  const req = (n: string): string => {
    const v = str(n);
    if (v === undefined) throw new ConfigError(`--${n} is required`);
    return v;
  };
  const bool = (n: string) => parseBoolean(n, req(n));
  const { bucket, prefix } = bucketSpec === '' ? { bucket: '', prefix: '' } : parseBucketSpec(bucketSpec);

  const endpoint = str('endpoint');
  if (endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new ConfigError(`--endpoint: "${endpoint}" is not a URL (example: http://s3.example.edu:8443)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ConfigError(`--endpoint: "${endpoint}" must start with http:// or https://`);
  }
  const pathStyleRaw = str('path-style');
  const logLevel = req('log-level');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new ConfigError(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  const cfg: MountConfig = {
    bucket,
    prefix,
    mountpoint: resolve(mountpoint),
    region: req('region'),
    pathStyle: pathStyleRaw === undefined ? endpoint !== undefined : parseBoolean('path-style', pathStyleRaw),
    pathStyleGiven: pathStyleRaw !== undefined,
    keysCommandTimeoutMs: parseSeconds('keys-command-timeout', req('keys-command-timeout')),
    maxRequests: parseNumber('max-requests', req('max-requests'), 1),
    requestTimeoutMs: parseSeconds('request-timeout', req('request-timeout')),
    connectTimeoutMs: parseSeconds('connect-timeout', req('connect-timeout')),
    idleTimeoutMs: parseSeconds('idle-timeout', req('idle-timeout')),
    foreground: bool('foreground'),
    readOnly: bool('read-only'),
    allowOther: bool('allow-other'),
    uid: str('uid') === undefined ? (process.getuid?.() ?? 0) : parseNumber('uid', req('uid')),
    gid: str('gid') === undefined ? (process.getgid?.() ?? 0) : parseNumber('gid', req('gid')),
    fileMode: parseMode('file-mode', req('file-mode')),
    dirMode: parseMode('dir-mode', req('dir-mode')),
    native: bool('native'),
    memoryLimitBytes: parseBytes('memory-limit', req('memory-limit')),
    cacheBytes: 0, // below: from --cache-size or the memory limit
    cacheDirBytes: parseBytes('cache-dir-size', req('cache-dir-size')),
    blockBytes: parseBytes('block-size', req('block-size')),
    readAheadBytes: parseBytes('read-ahead', req('read-ahead')),
    smallFileLookahead: parseNumber('small-file-lookahead', req('small-file-lookahead')),
    requestBytes: parseBytes('request-size', req('request-size')),
    metadataTtlMs: parseSeconds('metadata-ttl', req('metadata-ttl')),
    negativeTtlMs: parseSeconds('negative-ttl', req('negative-ttl')),
    recursiveListKeys: parseNumber('recursive-list', req('recursive-list')),
    objectMetadata: bool('object-metadata'),
    directIo: bool('direct-io'),
    stagingDir: resolve(str('staging-dir') ?? defaultStagingRoot(env)),
    writeBack: bool('write-back'),
    partBytes: parseBytes('part-size', req('part-size')),
    uploadConcurrency: parseNumber('upload-concurrency', req('upload-concurrency'), 1),
    copyThresholdBytes: parseBytes('copy-threshold', req('copy-threshold')),
    logLevel: logLevel as LogLevel,
  };
  if (endpoint !== undefined) cfg.endpoint = endpoint;
  const profile = str('profile');
  if (profile !== undefined) cfg.profile = profile;
  const keysCommand = str('keys-command');
  if (keysCommand !== undefined) cfg.keysCommand = keysCommand;
  const passwdFile = str('passwd-file');
  if (passwdFile !== undefined) cfg.passwdFile = resolve(passwdFile);
  const cacheDir = str('cache-dir');
  if (cacheDir !== undefined) cfg.cacheDir = resolve(cacheDir);
  const caBundle = str('ca-bundle');
  if (caBundle !== undefined) cfg.caBundle = resolve(caBundle);
  const logFile = str('log-file');
  if (logFile !== undefined) cfg.logFile = resolve(logFile);

  const cacheRaw = str('cache-size');
  cfg.cacheBytes =
    cacheRaw !== undefined ? parseBytes('cache-size', cacheRaw) : Math.floor(cfg.memoryLimitBytes / 2);
  if (cfg.cacheBytes > cfg.memoryLimitBytes)
    throw new ConfigError('--cache-size cannot exceed --memory-limit');
  if (cfg.memoryLimitBytes < 64 * 1024 * 1024) throw new ConfigError('--memory-limit must be at least 64M');
  if (cfg.blockBytes < 4096 || cfg.blockBytes > 64 * 1024 * 1024)
    throw new ConfigError('--block-size must be between 4K and 64M');
  if ((cfg.blockBytes & (cfg.blockBytes - 1)) !== 0)
    throw new ConfigError('--block-size must be a power of two (e.g. 64K, 256K, 1M)');
  if (cfg.requestBytes < cfg.blockBytes)
    throw new ConfigError('--request-size must be at least --block-size');
  if (cfg.cacheDir !== undefined && cfg.cacheDirBytes < 16 * cfg.blockBytes)
    throw new ConfigError('--cache-dir-size must hold at least 16 blocks');
  if (cfg.cacheBytes < 4 * cfg.blockBytes) throw new ConfigError('--cache-size must hold at least 4 blocks');
  if (cfg.partBytes < 5 * 1024 * 1024)
    throw new ConfigError('--part-size must be at least 5M (the S3 minimum part size)');
  if (cfg.copyThresholdBytes < 5 * 1024 * 1024) throw new ConfigError('--copy-threshold must be at least 5M');
  if (cfg.requestTimeoutMs < 1000) throw new ConfigError('--request-timeout must be at least 1 second');
  if (cfg.idleTimeoutMs < 1000) throw new ConfigError('--idle-timeout must be at least 1 second');
  return cfg;
}

function defaultStagingRoot(env: NodeJS.ProcessEnv): string {
  const cache =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(cache, 's3mount', 'staging');
}
