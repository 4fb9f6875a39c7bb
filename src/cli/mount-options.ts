// mount(8) style options (`-o name=value,flag,...`, as fstab and mount.fuse3 pass them)
// turned into s3mount's own flags: every option of the table, s3fs's names for the common
// ones, and the generic words mount(8) adds or keeps that mean nothing to s3mount.
import { OPTIONS, type OptionDef } from '../config/options.js';
import { UserError } from './preflight.js';

/**
 * Handled by mount(8) or the kernel, or implied for every FUSE mount by a user: accepted
 * and dropped. `nosuid`/`nodev` are what fusermount sets anyway; `user=NAME` is what
 * libmount adds for a user mount from fstab.
 */
const IGNORED = new Set([
  'rw',
  'defaults',
  'auto',
  'noauto',
  'user',
  'users',
  'nouser',
  'owner',
  'group',
  '_netdev',
  'nofail',
  'exec',
  'noexec',
  'suid',
  'nosuid',
  'dev',
  'nodev',
  'async',
  'atime',
  'noatime',
  'relatime',
  'norelatime',
  'strictatime',
  'lazytime',
  'nolazytime',
  'diratime',
  'nodiratime',
  'silent',
  'loud',
]);
const IGNORED_WITH_VALUE = new Set(['user', 'comment', 'subtype', 'fsname']);

/** The mask applied to the modes s3fs's `umask=` derives from (files 0666, dirs 0777). */
const FULL_FILE_MODE = 0o666;
const FULL_DIR_MODE = 0o777;

function tableOption(name: string): OptionDef | undefined {
  return OPTIONS.find((o) => o.name === name);
}

const octal = (n: number) => `0${n.toString(8).padStart(3, '0')}`;

/** Flags for one `name[=value]` item. */
function translateOne(item: string): string[] {
  const eq = item.indexOf('=');
  const rawName = eq < 0 ? item : item.slice(0, eq);
  const value = eq < 0 ? undefined : item.slice(eq + 1);
  if (rawName.startsWith('x-')) return []; // for systemd and other tools, by convention
  if (value === undefined && IGNORED.has(rawName)) return [];
  if (value !== undefined && IGNORED_WITH_VALUE.has(rawName)) return [];
  const need = (what: string): string => {
    if (value === undefined || value === '') throw new UserError(`-o ${rawName}: needs a value (${what})`, 2);
    return value;
  };

  // s3fs's names first: they differ from ours in meaning or form
  switch (rawName) {
    case 'ro':
      return ['--read-only'];
    case 'url':
      return ['--endpoint', need('the S3 endpoint URL')];
    case 'endpoint': {
      // s3fs's endpoint= is the signing region; ours is the URL
      const v = need('the S3 endpoint URL');
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? ['--endpoint', v] : ['--region', v];
    }
    case 'use_path_request_style':
      return ['--path-style'];
    case 'passwd_file':
      if (tableOption('passwd-file') === undefined)
        throw new UserError('-o passwd_file: this version of s3mount has no --passwd-file option', 2);
      return ['--passwd-file', need('a file with ACCESS_KEY:SECRET_KEY')];
    case 'umask': {
      const v = need('an octal mask such as 022');
      if (!/^0?[0-7]{1,4}$/.test(v)) throw new UserError(`-o umask: "${v}" is not an octal mask like 022`, 2);
      const mask = parseInt(v, 8);
      return ['--file-mode', octal(FULL_FILE_MODE & ~mask), '--dir-mode', octal(FULL_DIR_MODE & ~mask)];
    }
  }

  const name = rawName.replace(/_/g, '-');
  const def = tableOption(name);
  if (def !== undefined && def.name !== 'foreground') {
    if (def.type !== 'boolean') return [`--${def.name}`, need(def.describe.split('.')[0] ?? def.name)];
    return value === undefined ? [`--${def.name}`] : [`--${def.name}=${value}`];
  }
  const negated = name.startsWith('no-') ? name.slice(3) : name.startsWith('no') ? name.slice(2) : undefined;
  const neg = negated === undefined ? undefined : tableOption(negated);
  if (neg !== undefined && neg.type === 'boolean' && value === undefined) return [`--no-${neg.name}`];
  throw new UserError(`-o ${rawName}: unknown mount option (the options are listed in man s3mount)`, 2);
}

/** Splits a `-o` value at commas; a value may hold a comma inside double quotes. */
export function splitOptionString(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.filter((x) => x !== '');
}

/** s3mount flags for a mount(8) option string such as "ro,url=http://h:8080,uid=1000". */
export function translateMountOptions(optionString: string): string[] {
  return splitOptionString(optionString).flatMap(translateOne);
}

/**
 * Rewrites every `-o OPTS` (and `-oOPTS`) in an s3mount command line into s3mount flags,
 * the form in which fuse3's mount.fuse3 runs `s3mount SOURCE DIR -o OPTS`.
 */
export function expandDashO(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a === '-o') {
      const v = args[i + 1];
      if (v === undefined) throw new UserError('-o needs a list of mount options', 2);
      out.push(...translateMountOptions(v));
      i++;
    } else if (a.startsWith('-o') && !a.startsWith('--')) out.push(...translateMountOptions(a.slice(2)));
    else out.push(a);
  }
  return out;
}

/** What the mount helper was asked to do (mount(8)'s helper calling convention). */
export interface HelperRequest {
  args: string[];
  /** -f: mount(8)'s "fake": do everything but mount */
  fake: boolean;
}

/**
 * `mount.fuse.s3mount SOURCE DIR [-sfnv] [-o OPTS] [-t fuse.s3mount]`, as mount(8) runs
 * it, to s3mount's command line. SOURCE is BUCKET[:PREFIX]; -s (sloppy), -n (no mtab) and
 * -v change nothing here.
 */
export function helperToArgs(argv: string[]): HelperRequest {
  const positional: string[] = [];
  const flags: string[] = [];
  let fake = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '-o') {
      const v = argv[i + 1];
      if (v === undefined) throw new UserError('-o needs a list of mount options', 2);
      flags.push(...translateMountOptions(v));
      i++;
    } else if (a === '-t') {
      i++; // the type: fuse.s3mount, or s3mount
    } else if (/^-[sfnvi]+$/.test(a)) {
      if (a.includes('f')) fake = true;
    } else if (a.startsWith('-o')) flags.push(...translateMountOptions(a.slice(2)));
    else if (a.startsWith('-')) throw new UserError(`${a}: not an option of mount.fuse.s3mount`, 2);
    else positional.push(a);
  }
  if (positional.length !== 2)
    throw new UserError('usage: mount.fuse.s3mount BUCKET[:PREFIX] MOUNTPOINT [-o OPTIONS]', 2);
  return { args: [...positional, ...flags], fake };
}
