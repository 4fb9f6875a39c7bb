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
  {
    name: 'endpoint',
    type: 'string',
    env: 'AWS_ENDPOINT_URL',
    group: 'S3',
    describe: 'S3 endpoint URL, e.g. http://s3.example.edu:8443. Default: AWS S3 for the region.',
  },
  {
    name: 'region',
    type: 'string',
    default: 'us-east-1',
    env: 'AWS_REGION',
    group: 'S3',
    describe: 'Region used to sign requests. Ceph RGW accepts any.',
  },
  {
    name: 'path-style',
    type: 'boolean',
    group: 'S3',
    describe:
      'Path-style addressing (http://host/bucket/key). Default: on with --endpoint, off for AWS. Use --no-path-style for virtual-hosted style.',
  },
  {
    name: 'keys-command',
    type: 'string',
    env: 'S3MOUNT_KEYS_COMMAND',
    group: 'S3',
    describe:
      "A command (run with /bin/sh) that prints the keys as `ACCESS_KEY SECRET_KEY [SESSION_TOKEN]` on one line, like a site's `s3info --keys`. Run at mount and again whenever the server rejects the keys (rotated, expired). First in the order of credentials (see docs/SEMANTICS.md).",
  },
  {
    name: 'keys-command-timeout',
    type: 'seconds',
    default: '30',
    env: 'S3MOUNT_KEYS_COMMAND_TIMEOUT',
    group: 'S3',
    describe: 'How long --keys-command may run before it is killed and the keys count as unavailable.',
  },
  {
    name: 'passwd-file',
    type: 'string',
    env: 'S3MOUNT_PASSWD_FILE',
    group: 'S3',
    describe:
      'An s3fs passwd file: lines `ACCESS_KEY:SECRET_KEY` or `BUCKET:ACCESS_KEY:SECRET_KEY` (the line for the mounted bucket wins). Refused if group or others have any permission on it (chmod 600). Without this option, ~/.passwd-s3fs and /etc/passwd-s3fs are used when no profile and no AWS_ACCESS_KEY_ID is set.',
  },
  {
    name: 'profile',
    type: 'string',
    env: 'AWS_PROFILE',
    group: 'S3',
    describe:
      "Profile from ~/.aws/credentials and ~/.aws/config (credential_process too; its endpoint_url is used when no --endpoint is given). Without one, credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, s3fs's passwd files, then the AWS default chain.",
  },
  {
    name: 'ca-bundle',
    type: 'string',
    env: 'AWS_CA_BUNDLE',
    group: 'S3',
    describe:
      "A PEM file of CA certificates (a site's own CA) trusted for an https endpoint, besides the CAs Node trusts. Certificates are always verified; a certificate no trusted CA signed fails the mount with one line naming this option.",
  },
  {
    name: 'max-requests',
    type: 'number',
    default: '32',
    env: 'S3MOUNT_MAX_REQUESTS',
    group: 'S3',
    describe: 'Most S3 requests in flight at once (reads, prefetch and uploads together).',
  },
  {
    name: 'request-timeout',
    type: 'seconds',
    default: '60',
    env: 'S3MOUNT_REQUEST_TIMEOUT',
    group: 'S3',
    describe:
      'Deadline for one S3 request including its retries; a read that misses it fails with ETIMEDOUT.',
  },
  {
    name: 'connect-timeout',
    type: 'seconds',
    default: '5',
    env: 'S3MOUNT_CONNECT_TIMEOUT',
    group: 'S3',
    describe:
      'TCP connect timeout; also bounds how long the mount command waits for an unreachable endpoint.',
  },
  {
    name: 'idle-timeout',
    type: 'seconds',
    default: '20',
    env: 'S3MOUNT_IDLE_TIMEOUT',
    group: 'S3',
    describe:
      'An attempt of an S3 request whose connection stays silent this long (no first byte of the answer yet, or a body that stopped coming) is abandoned and retried, within --request-timeout.',
  },

  {
    name: 'foreground',
    alias: 'f',
    type: 'boolean',
    default: false,
    group: 'Mount',
    describe:
      'Stay in the foreground (logs to stderr; Ctrl-C unmounts). Default: detach once the mount is ready.',
  },
  {
    name: 'read-only',
    type: 'boolean',
    default: false,
    group: 'Mount',
    describe: 'Mount read-only: writes fail with EROFS.',
  },
  {
    name: 'allow-other',
    type: 'boolean',
    default: false,
    group: 'Mount',
    describe:
      'Let other users access the mount (FUSE allow_other; non-root users need user_allow_other in /etc/fuse.conf).',
  },
  {
    name: 'uid',
    type: 'number',
    group: 'Mount',
    describe: 'Owner shown for files and directories. Default: the user who mounts.',
  },
  {
    name: 'gid',
    type: 'number',
    group: 'Mount',
    describe: 'Group shown for files and directories. Default: the group of the user who mounts.',
  },
  {
    name: 'file-mode',
    type: 'mode',
    default: '0644',
    group: 'Mount',
    describe: 'Permission bits shown for files (octal).',
  },
  {
    name: 'dir-mode',
    type: 'mode',
    default: '0755',
    group: 'Mount',
    describe: 'Permission bits shown for directories (octal).',
  },
  {
    name: 'native',
    type: 'boolean',
    default: true,
    group: 'Mount',
    describe:
      'Answer getattr of listed names, reads of cached blocks, writes of staged files and directory listings on the FUSE threads, in C (native/fuse-native), without waking JavaScript. The mount fails to start if that binding cannot be loaded. Use --no-native to run every operation in JavaScript: slower, same results.',
  },

  {
    name: 'memory-limit',
    type: 'bytes',
    default: '512M',
    env: 'S3MOUNT_MEMORY_LIMIT',
    group: 'Cache and reads',
    describe:
      "One memory budget for the daemon's data buffers: the block cache gets half, ranged GETs in flight (prefetch, at most 8 at once) a quarter, upload parts in flight a quarter (that memory is allocated when first used and kept). The process uses about this plus 100 MiB.",
  },
  {
    name: 'cache-size',
    type: 'bytes',
    env: 'S3MOUNT_CACHE_SIZE',
    group: 'Cache and reads',
    describe:
      'Block cache size in memory, shared by all open files. Default: half of --memory-limit; at most the whole limit.',
  },
  {
    name: 'cache-dir',
    type: 'string',
    env: 'S3MOUNT_CACHE_DIR',
    group: 'Cache and reads',
    describe:
      'Keep fetched blocks on local disk here too (node-local NVMe or scratch), so a remount, another job on the node or a second mount of the same user reads them without S3. Validated by ETag (a replaced object is fetched anew) and a CRC-32 per block (damaged entries are dropped and fetched again). Safe to share between concurrent mounts; delete the directory to clear it. Blocks that memory no longer holds are read from their files by the FUSE threads directly (up to 16,384 files open, at most a quarter of the open-files limit). An object read at random that is at most a quarter of --cache-dir-size is fetched whole into it in the background. Default: off.',
  },
  {
    name: 'cache-dir-size',
    type: 'bytes',
    default: '10G',
    env: 'S3MOUNT_CACHE_DIR_SIZE',
    group: 'Cache and reads',
    describe:
      'Most bytes --cache-dir may hold; beyond it the least recently used blocks are deleted (down to 90%).',
  },
  {
    name: 'block-size',
    type: 'bytes',
    default: '256K',
    group: 'Cache and reads',
    describe:
      'Unit of the block cache, a power of two, and the least a read fetches: a random read fetches the aligned group of blocks around it (1 MiB to start with, more when round trips are long, down to this one block when what is fetched around random reads goes unread); sequential reads fetch many blocks per request.',
  },
  {
    name: 'read-ahead',
    type: 'bytes',
    default: '64M',
    env: 'S3MOUNT_READ_AHEAD',
    group: 'Cache and reads',
    describe:
      'Largest sequential prefetch window per open file. The window starts at 1 block and doubles while reads stay sequential; a seek resets it. 0 disables prefetch.',
  },
  {
    name: 'request-size',
    type: 'bytes',
    default: '8M',
    group: 'Cache and reads',
    describe: 'Largest ranged GET; a prefetch window is fetched as several such requests in parallel.',
  },
  {
    name: 'small-file-lookahead',
    type: 'number',
    default: '64',
    env: 'S3MOUNT_SMALL_FILE_LOOKAHEAD',
    group: 'Cache and reads',
    describe:
      'When a program opens the small files (at most one --block-size) of a listed directory one after another in listing order (cat dir/*, cp -r, tar), the next this many small files of that listing are fetched ahead, whole, pinned to the ETags the listing gave, so their reads come from memory. Starts at the second such open; 16 GETs at most in flight; the files wait in the block cache, never more than a quarter of it, and an object replaced since the listing is not served from them (the GET is pinned to the listed ETag). 0 turns it off.',
  },
  {
    name: 'metadata-ttl',
    type: 'seconds',
    default: '30',
    env: 'S3MOUNT_METADATA_TTL',
    group: 'Cache and reads',
    describe:
      'How long file sizes, directory listings and existence are trusted before S3 is asked again. 0 asks every time.',
  },
  {
    name: 'negative-ttl',
    type: 'seconds',
    default: '5',
    group: 'Cache and reads',
    describe:
      'How long "no such file" is remembered, also when a cached listing of the directory misses the name: a file another client or node puts can be opened by name here at most this long after. 0 disables the negative cache.',
  },

  {
    name: 'recursive-list',
    type: 'number',
    default: '100000',
    env: 'S3MOUNT_RECURSIVE_LIST',
    group: 'Cache and reads',
    describe:
      'When a directory walk (find, du, ls -R, rsync) goes into a sub-directory of a directory with several, list everything below that directory at once (one listing without a delimiter, 1,000 keys a page) and answer the walk from it for --metadata-ttl, instead of one LIST per directory. At most this many keys, and at most what a sixteenth of --memory-limit holds (about 512 bytes a key); past that the tree is listed directory by directory. 0 turns it off.',
  },

  {
    name: 'direct-io',
    type: 'boolean',
    default: false,
    group: 'Cache and reads',
    describe:
      "Every open of an object bypasses the kernel's page cache (FUSE direct_io), so no descriptor can be given bytes of, or cut at the size of, a version another client wrote while it was open. Off: only opens of a file seen changing within the last minute, or made while a descriptor of another version is open here, bypass it. Shared mmap (MAP_SHARED) of a file opened this way fails with ENODEV.",
  },
  {
    name: 'object-metadata',
    type: 'boolean',
    default: false,
    group: 'Cache and reads',
    describe:
      'Show mode, owner, mtime and symlinks stored in object metadata (x-amz-meta-mode/-uid/-gid/-mtime, as s3fs and rclone write them) for every file, at the cost of one HEAD per file when a directory is listed. Off: files known from a listing show --file-mode, the mounting user and LastModified; metadata is still written, and shown for files looked up by name.',
  },

  {
    name: 'staging-dir',
    type: 'string',
    env: 'S3MOUNT_STAGING_DIR',
    group: 'Writes',
    describe:
      'Where written data waits until S3 has it (mode 0700, files 0600). Each mount uses a subdirectory named after endpoint, bucket and prefix, so a restarted mount finds and uploads what a crashed one left. Default: $XDG_CACHE_HOME/s3mount/staging (~/.cache/s3mount/staging).',
  },
  {
    name: 'write-back',
    type: 'boolean',
    default: false,
    group: 'Writes',
    describe:
      'close() returns once the data is staged on local disk; uploads run in the background and are retried until they succeed. fsync() and unmount still wait for them. Off: close() returns when the object is in S3, or fails with the upload error.',
  },
  {
    name: 'part-size',
    type: 'bytes',
    default: '8M',
    group: 'Writes',
    describe:
      'Files up to this size are uploaded with one PutObject, larger ones as multipart uploads in parts of this size (at least 5M, and grown so that 10,000 parts reach 5 TiB).',
  },
  {
    name: 'upload-concurrency',
    type: 'number',
    default: '4',
    group: 'Writes',
    describe: 'Parts of one file uploaded at once.',
  },
  {
    name: 'copy-threshold',
    type: 'bytes',
    default: '5G',
    group: 'Writes',
    describe:
      'Objects larger than this are copied (rename, metadata changes) with a multipart copy (UploadPartCopy) instead of CopyObject, whose limit is 5 GiB.',
  },

  {
    name: 'log-level',
    type: 'string',
    default: 'warn',
    env: 'S3MOUNT_LOG_LEVEL',
    group: 'Logging',
    describe:
      'One of error, warn, info, debug. The log is one JSON object a line (pino): level, time, mod, the fields of the event, msg. Every upload failure and recovery is logged with the path and the reason. Secrets are never logged (redacted by field name and by value).',
  },
  {
    name: 'log-file',
    type: 'string',
    env: 'S3MOUNT_LOG_FILE',
    group: 'Logging',
    describe:
      'Where the daemon logs. Default: stderr in the foreground; $XDG_STATE_HOME/s3mount/<mountpoint>.log (~/.local/state/...) when detached.',
  },
];

export function optionDef(name: string): OptionDef {
  const d = OPTIONS.find((o) => o.name === name);
  if (!d) throw new Error(`unknown option ${name}`);
  return d;
}
