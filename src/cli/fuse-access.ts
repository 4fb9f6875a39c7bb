// Can this user mount FUSE here? Names the one real cause when not: /dev/fuse missing or
// not accessible, fusermount missing, not setuid root or not executable, allow_other not allowed.
import { constants } from 'node:fs';
import { access, open, readFile, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** What the checks look at; injected so that every answer can be tested without root. */
export interface FuseProbes {
  euid: number;
  /** stat of a path, undefined if it does not exist */
  stat(path: string): Promise<{ mode: number; uid: number; gid: number } | undefined>;
  /** whether this process can open the device for reading and writing */
  canOpen(path: string): Promise<boolean>;
  /** whether this process may execute the file */
  canExecute(path: string): Promise<boolean>;
  /** text of /etc/fuse.conf, undefined if missing or unreadable */
  fuseConf(): Promise<string | undefined>;
  /** directories searched for fusermount */
  searchPath: string[];
}

export const DEV_FUSE = '/dev/fuse';
const S_ISUID = 0o4000;

/**
 * libfuse 2 (under fuse-native) runs `fusermount` (Debian's fuse3 makes it a link to
 * fusermount3) for users who are not root; these are the names it may have.
 */
const FUSERMOUNT_NAMES = ['fusermount', 'fusermount3'];

export function systemProbes(env: NodeJS.ProcessEnv): FuseProbes {
  const fromEnv = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  return {
    euid: process.geteuid?.() ?? 0,
    stat: async (p) => {
      try {
        const s = await stat(p);
        return { mode: s.mode, uid: s.uid, gid: s.gid };
      } catch {
        return undefined; // missing, or a directory above it is not searchable: same advice
      }
    },
    // a real open: access() says yes to root even where a container's device rules say no
    canOpen: async (p) => {
      try {
        await (await open(p, 'r+')).close();
        return true;
      } catch {
        return false;
      }
    },
    canExecute: async (p) =>
      access(p, constants.X_OK).then(
        () => true,
        () => false,
      ),
    fuseConf: () => readFile('/etc/fuse.conf', 'utf8').catch(() => undefined),
    // libfuse looks in /bin first, then PATH
    searchPath: [...new Set(['/bin', '/usr/bin', ...fromEnv])],
  };
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/** The user-facing reason a FUSE mount cannot work, or undefined when nothing is wrong. */
export async function fuseProblem(
  probes: FuseProbes,
  opts: { allowOther: boolean },
): Promise<string | undefined> {
  const dev = await probes.stat(DEV_FUSE);
  if (dev === undefined)
    return `FUSE is not available: ${DEV_FUSE} does not exist (the fuse kernel module is not loaded: modprobe fuse; in a container, pass the device in, e.g. --device ${DEV_FUSE})`;
  if (probes.euid === 0) {
    // root mounts by itself; no setuid helper, no fuse.conf rule
    if (await probes.canOpen(DEV_FUSE)) return undefined;
    return `cannot open ${DEV_FUSE} (mode ${octal(dev.mode)}): permission denied even for root; in a container, the device must be allowed (e.g. --device ${DEV_FUSE})`;
  }
  // Users other than root mount through the setuid fusermount, which opens /dev/fuse as
  // root: their own access to the device does not matter, fusermount's does.
  let found: { path: string; mode: number; uid: number; gid: number } | undefined;
  for (const name of FUSERMOUNT_NAMES) {
    for (const dir of probes.searchPath) {
      const path = join(dir, name);
      const st = await probes.stat(path);
      if (st !== undefined) {
        found = { path, ...st };
        break;
      }
    }
    if (found) break;
  }
  if (found === undefined)
    return `fusermount3 is not installed, and users other than root need it to mount (install the fuse3 package)`;
  if ((found.mode & S_ISUID) === 0 || found.uid !== 0)
    return `${found.path} is not setuid root (mode ${octal(found.mode)}, owner uid ${found.uid}), so users other than root cannot mount; an administrator can fix it: chown root ${found.path} && chmod u+s ${found.path}`;
  if (!(await probes.canExecute(found.path)))
    return `you may not run ${found.path} (mode ${octal(found.mode)}, group ${found.gid}), which users other than root need to mount; an administrator can add you to that group`;
  if (opts.allowOther) {
    const conf = await probes.fuseConf();
    const allowed = (conf ?? '').split('\n').some((l) => l.trim() === 'user_allow_other');
    if (!allowed)
      return '--allow-other needs the line user_allow_other in /etc/fuse.conf (an administrator adds it), or mount without --allow-other';
  }
  return undefined;
}
