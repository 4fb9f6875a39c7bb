// Mount table lookups from /proc/self/mountinfo: is a path a mount point, of which type.

import { readFile } from 'node:fs/promises';

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
  /** the superblock options (for FUSE: user_id=, group_id=, ...) */
  superOptions: string;
}

/** Undoes the octal escapes (\040 for space, ...) the kernel uses in mountinfo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [left, right] = line.split(' - ');
    const f = (left ?? '').split(' ');
    const r = (right ?? '').split(' ');
    if (f[4] === undefined || r[0] === undefined) continue;
    out.push({
      mountpoint: unescape(f[4]),
      fstype: r[0],
      source: unescape(r[1] ?? ''),
      superOptions: r[2] ?? '',
    });
  }
  return out;
}

export async function findMount(path: string): Promise<MountEntry | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  // the last entry for a path is the one on top
  return parseMountinfo(text)
    .filter((m) => m.mountpoint === path)
    .pop();
}

/** s3mount's FUSE mounts made by this user (user_id= in the superblock options), in mount order. */
export async function ownS3mounts(uid: number): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return parseMountinfo(text).filter(
    (m) => m.fstype === 'fuse.s3mount' && m.superOptions.split(',').includes(`user_id=${uid}`),
  );
}
