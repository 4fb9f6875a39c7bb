// Handle table: open file handles by number. A handle reads an object pinned to its
// version (object-handles.ts), or works on a staged local copy (reading, and writing if
// opened for it).
import { fsError } from './errno.js';
import type { ObjectHandle } from './object-handles.js';
import type { OpenFile } from './open-files.js';

export type Handle = ObjectHandle | { kind: 'staged'; path: string; file: OpenFile; writable: boolean };

export class HandleTable<H extends { path: string }> {
  private next = 1; // 0 tells fuse-native "no handle"
  private readonly open = new Map<number, H>();

  add(h: H): number {
    const fh = this.next;
    this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    this.open.set(fh, h);
    return fh;
  }

  get(fh: number): H {
    const h = this.open.get(fh);
    if (!h) throw fsError('EBADF', 'no such open file handle', { fh });
    return h;
  }

  /** The handle numbered `fh`, if it is open. */
  find(fh: number): H | undefined {
    return this.open.get(fh);
  }

  remove(fh: number): H | undefined {
    const h = this.open.get(fh);
    this.open.delete(fh);
    return h;
  }

  get size(): number {
    return this.open.size;
  }
}
