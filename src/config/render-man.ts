// Renders the man page s3mount(1) and the bash completion script from the option table
// (man/s3mount.1, completion/s3mount.bash; written by scripts/gen-config-doc, test-checked).
import { OPTIONS, type OptionDef } from './options.js';

/** Escapes text for roff: backslashes, and a line start that roff would take as a request. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

function synopsisOf(o: OptionDef): string {
  const name = `\\fB\\-\\-${roff(o.name)}\\fR`;
  const alias = o.alias !== undefined ? `\\fB\\-${o.alias}\\fR, ` : '';
  return o.type === 'boolean' ? `${alias}${name}` : `${alias}${name} \\fI${o.type.toUpperCase()}\\fR`;
}

export function renderManPage(version: string): string {
  const out: string[] = [
    '.\\" Generated from src/config/options.ts by scripts/gen-config-doc: do not edit.',
    `.TH S3MOUNT 1 "" "s3mount ${roff(version)}" "User Commands"`,
    '.SH NAME',
    's3mount \\- mount an S3 bucket (Ceph RGW, AWS, any S3) as a directory with FUSE',
    '.SH SYNOPSIS',
    '.B s3mount',
    '.I BUCKET\\fR[:\\fIPREFIX\\fR]',
    '.I MOUNTPOINT',
    '[\\fIoptions\\fR]',
    '.br',
    '.B s3mount',
    '.I MOUNTPOINT',
    '[\\fIoptions\\fR]',
    '.br',
    '.B s3mount unmount',
    '[\\-\\-force]',
    '.I MOUNTPOINT',
    '.br',
    '.B s3mount run',
    '[\\fIoptions\\fR]',
    '.I BUCKET\\fR[:\\fIPREFIX\\fR]',
    '.I MOUNTPOINT',
    '.B \\-\\-',
    '.I COMMAND...',
    '.br',
    '.B s3mount status',
    '[\\fIMOUNTPOINT\\fR] [\\-\\-json]',
    '.br',
    '.B s3mount sync',
    '[\\fIPATH...\\fR]',
    '.br',
    '.B s3mount share',
    '.I PATH...',
    '[\\-\\-expires \\fIDURATION\\fR]',
    '.br',
    '.B mount \\-t fuse.s3mount',
    '.I BUCKET\\fR[:\\fIPREFIX\\fR]',
    '.I MOUNTPOINT',
    '.B \\-o',
    '.IR name = value ,...',
    '.SH DESCRIPTION',
    'Mounts the bucket, or only the keys under PREFIX, on the empty directory MOUNTPOINT and',
    'detaches once the mount is ready. Written files are staged on local disk and uploaded;',
    'nothing written is dropped: what cannot be uploaded stays staged and the next mount of the',
    'same bucket uploads it.',
    'With MOUNTPOINT alone, every bucket the keys can see is a directory under it;',
    '.B mkdir',
    'and',
    '.B rmdir',
    'there create and delete buckets.',
    '.B s3mount unmount',
    'unmounts (with fusermount3 for users other than root) and waits until the daemon has',
    'uploaded everything (progress on a terminal;',
    '.B \\-\\-force',
    'does not wait and leaves the rest staged).',
    '.B s3mount run',
    "mounts, runs COMMAND, waits for every upload, unmounts and exits with COMMAND's status,",
    'or 75 when files could not be uploaded (listed; they stay staged).',
    '.B s3mount sync',
    'returns once everything written under PATH is in S3.',
    '.B s3mount status',
    'shows each of your mounts: bucket, uptime, cache, traffic, S3 requests and errors, pending uploads.',
    '.B s3mount share',
    'prints a presigned URL for each file, one per line, that downloads it without keys until it',
    'expires (\\-\\-expires: 3600, 90s, 30m, 12h or 7d; default 1 hour, at most 7 days); the daemon of',
    'the mount signs it with its own endpoint and keys. A directory, a file not yet in S3 (still',
    'staged), a missing file or a path outside your mounts: one line each, exit status 1.',
    '.PP',
    'Options are taken from the command line, then from the environment variable shown for',
    'each, then from their default.',
    '.SH OPTIONS',
  ];
  for (const g of [...new Set(OPTIONS.map((o) => o.group))]) {
    out.push(`.SS ${roff(g)}`);
    for (const o of OPTIONS.filter((x) => x.group === g)) {
      out.push('.TP', synopsisOf(o), roff(o.describe));
      const extra = [
        o.default !== undefined ? `Default: ${roff(String(o.default))}.` : '',
        o.env !== undefined ? `Environment: \\fB${roff(o.env)}\\fR.` : '',
      ].filter((x) => x !== '');
      if (extra.length > 0) out.push('.br', extra.join(' '));
    }
  }
  out.push(
    '.SH MOUNT OPTIONS',
    'For \\fBmount \\-t fuse.s3mount\\fR, fstab lines and \\fBs3mount ... \\-o\\fR, every option above is',
    'also accepted as \\fB\\-o\\fR \\fIname\\fR=\\fIvalue\\fR (a boolean as \\fIname\\fR or \\fBno\\fR\\fIname\\fR;',
    "underscores may stand for dashes), and so are s3fs's names for the common ones:",
    '.TP',
    '.BI url= URL',
    'the endpoint URL (\\-\\-endpoint)',
    '.TP',
    '.BI endpoint= REGION',
    'a value without "://" is the signing region, as in s3fs (\\-\\-region)',
    '.TP',
    '.B use_path_request_style',
    '\\-\\-path\\-style',
    '.TP',
    '.BI passwd_file= FILE',
    '\\-\\-passwd\\-file',
    '.TP',
    '.BR ro ", " allow_other ", " uid= "N, " gid= N',
    '\\-\\-read\\-only, \\-\\-allow\\-other, \\-\\-uid, \\-\\-gid',
    '.TP',
    '.BI umask= MASK',
    '\\-\\-file\\-mode 0666 and \\-\\-dir\\-mode 0777 without the bits of MASK',
    '.PP',
    "mount(8)'s own words (\\fBrw\\fR, \\fBdefaults\\fR, \\fBnoauto\\fR, \\fBuser\\fR, \\fBusers\\fR, \\fB_netdev\\fR,",
    '\\fBnofail\\fR, \\fBnosuid\\fR, \\fBnodev\\fR, \\fBnoexec\\fR, \\fBx\\-\\fR*, \\fBcomment=\\fR...) are accepted and',
    'left to mount(8). An unknown option is an error.',
    '.SH EXAMPLES',
    '.nf',
    's3mount mybucket ~/tier2 \\-\\-endpoint http://s3.example.edu:8443',
    's3mount share ~/tier2/results/plot.png \\-\\-expires 7d',
    's3mount unmount ~/tier2',
    'mount \\-t fuse.s3mount mybucket:results /mnt/results \\-o endpoint=http://s3.example.edu:8443',
    '.fi',
    '.PP',
    'An /etc/fstab line that any user may mount with \\fBmount /mnt/results\\fR:',
    '.PP',
    '.nf',
    'mybucket:results /mnt/results fuse.s3mount _netdev,noauto,user,url=http://s3.example.edu:8443 0 0',
    '.fi',
    '.SH FILES',
    '.TP',
    '.I ~/.cache/s3mount/staging',
    'written data until S3 has it (\\-\\-staging\\-dir)',
    '.TP',
    '.I ~/.local/state/s3mount',
    "the detached daemon's log and pid files",
    '.TP',
    '.I /etc/fuse.conf',
    '\\fBuser_allow_other\\fR lets users other than root use \\-\\-allow\\-other',
    '.SH EXIT STATUS',
    '0 when mounted (or unmounted with everything uploaded, or every link made), 1 on failure, 2 for a usage error;',
    '.B s3mount run:',
    "COMMAND's status, or 75 when files could not be uploaded.",
    '.SH SEE ALSO',
    '.BR mount (8),',
    '.BR fstab (5),',
    '.BR fusermount3 (1),',
    '.BR mount.fuse3 (8)',
  );
  return out.join('\n') + '\n';
}

export function renderBashCompletion(): string {
  const flags = OPTIONS.flatMap((o) => [
    `--${o.name}`,
    ...(o.type === 'boolean' && o.default !== false ? [`--no-${o.name}`] : []),
    ...(o.alias !== undefined ? [`-${o.alias}`] : []),
  ]);
  const valued = OPTIONS.filter((o) => o.type !== 'boolean').map((o) => `--${o.name}`);
  const dirs = OPTIONS.filter((o) => /-(dir|file)$/.test(o.name)).map((o) => `--${o.name}`);
  return `# bash completion for s3mount. Generated from src/config/options.ts by scripts/gen-config-doc.
_s3mount() {
  local cur prev
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    ${dirs.join('|')})
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --expires)
      COMPREPLY=($(compgen -W "3600 30m 12h 7d" -- "$cur")); return ;;
    --log-level)
      COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return ;;
    ${valued.join('|')})
      return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${[...flags, '--help', '--version'].join(' ')}" -- "$cur"))
  elif ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "unmount run status sync share" -- "$cur"))
  elif [[ \${COMP_WORDS[1]} == share || \${COMP_WORDS[1]} == sync ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -d -- "$cur"))
  fi
}
complete -F _s3mount s3mount
`;
}
