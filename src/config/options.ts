// THE option table: every mount option's name, type, default, env var and doc text.
// cli/ builds yargs flags from it; docs/CONFIGURATION.md is rendered from it (test-checked).

export type OptionType = 'string' | 'boolean' | 'number' | 'bytes' | 'seconds' | 'mode';

export interface OptionDef {
  name: string;
  alias?: string;
  type: OptionType;
  /** as a user would type it; undefined = unset unless derived (see describe) */
  default?: string | boolean;
  env?: string;
  group: 'S3' | 'Mount' | 'Cache and reads' | 'Writes' | 'Logging';
  describe: string;
}

export const OPTIONS: readonly OptionDef[] = [
  { name: 'endpoint', type: 'string', env: 'AWS_ENDPOINT_URL', group: 'S3', describe: 'S3 endpoint URL, e.g. http://s3.example.edu:8443. Default: AWS S3 for the region.' },
  { name: 'region', type: 'string', default: 'us-east-1', env: 'AWS_REGION', group: 'S3', describe: 'Region used to sign requests. Ceph RGW accepts any.' },
  { name: 'path-style', type: 'boolean', group: 'S3', describe: 'Path-style addressing (http://host/bucket/key). Default: on with --endpoint, off for AWS. Use --no-path-style for virtual-hosted style.' },
  { name: 'profile', type: 'string', env: 'AWS_PROFILE', group: 'S3', describe: 'Profile from ~/.aws/credentials and ~/.aws/config. Credentials otherwise come from the AWS default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, files, instance roles).' },
  { name: 'max-requests', type: 'number', default: '32', env: 'S3MOUNT_MAX_REQUESTS', group: 'S3', describe: 'Most S3 requests in flight at once (reads, prefetch and uploads together).' },
  { name: 'request-timeout', type: 'seconds', default: '60', env: 'S3MOUNT_REQUEST_TIMEOUT', group: 'S3', describe: 'Deadline for one S3 request including its retries; a read that misses it fails with ETIMEDOUT.' },
  { name: 'connect-timeout', type: 'seconds', default: '5', env: 'S3MOUNT_CONNECT_TIMEOUT', group: 'S3', describe: 'TCP connect timeout; also bounds how long the mount command waits for an unreachable endpoint.' },

  { name: 'foreground', alias: 'f', type: 'boolean', default: false, group: 'Mount', describe: 'Stay in the foreground (logs to stderr; Ctrl-C unmounts). Default: detach once the mount is ready.' },
  { name: 'read-only', type: 'boolean', default: false, group: 'Mount', describe: 'Mount read-only: writes fail with EROFS.' },
  { name: 'allow-other', type: 'boolean', default: false, group: 'Mount', describe: 'Let other users access the mount (FUSE allow_other; non-root users need user_allow_other in /etc/fuse.conf).' },
  { name: 'uid', type: 'number', group: 'Mount', describe: 'Owner shown for files and directories. Default: the user who mounts.' },
  { name: 'gid', type: 'number', group: 'Mount', describe: 'Group shown for files and directories. Default: the group of the user who mounts.' },
  { name: 'file-mode', type: 'mode', default: '0644', group: 'Mount', describe: 'Permission bits shown for files (octal).' },
  { name: 'dir-mode', type: 'mode', default: '0755', group: 'Mount', describe: 'Permission bits shown for directories (octal).' },

  { name: 'cache-size', type: 'bytes', default: '256M', env: 'S3MOUNT_CACHE_SIZE', group: 'Cache and reads', describe: 'Block cache size in memory (shared by all open files).' },
  { name: 'block-size', type: 'bytes', default: '1M', group: 'Cache and reads', describe: 'Unit of the block cache; reads are fetched and cached in whole blocks.' },
  { name: 'read-ahead', type: 'bytes', default: '64M', env: 'S3MOUNT_READ_AHEAD', group: 'Cache and reads', describe: 'Largest sequential prefetch window per open file. The window starts at 1 block and doubles while reads stay sequential; a seek resets it. 0 disables prefetch.' },
  { name: 'request-size', type: 'bytes', default: '8M', group: 'Cache and reads', describe: 'Largest ranged GET; a prefetch window is fetched as several such requests in parallel.' },
  { name: 'metadata-ttl', type: 'seconds', default: '30', env: 'S3MOUNT_METADATA_TTL', group: 'Cache and reads', describe: 'How long file sizes, directory listings and existence are trusted before S3 is asked again. 0 asks every time.' },
  { name: 'negative-ttl', type: 'seconds', default: '5', group: 'Cache and reads', describe: 'How long "no such file" is remembered. 0 disables the negative cache.' },

  { name: 'log-level', type: 'string', default: 'warn', env: 'S3MOUNT_LOG_LEVEL', group: 'Logging', describe: 'One of error, warn, info, debug. Secrets are never logged.' },
  { name: 'log-file', type: 'string', env: 'S3MOUNT_LOG_FILE', group: 'Logging', describe: 'Where the daemon logs. Default: stderr in the foreground; $XDG_STATE_HOME/s3mount/<mountpoint>.log (~/.local/state/...) when detached.' },
];

export function optionDef(name: string): OptionDef {
  const d = OPTIONS.find((o) => o.name === name);
  if (!d) throw new Error(`unknown option ${name}`);
  return d;
}
