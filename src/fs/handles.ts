// Handle table: open file handles by number. A handle is a reader or a writer, never both.
import type { ObjectReader } from '../read/object-reader.js';
import { fsError } from './errno.js';

export type Handle = { kind: 'read'; path: string; reader: ObjectReader };

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

  remove(fh: number): H | undefined {
    const h = this.open.get(fh);
    this.open.delete(fh);
    return h;
  }

  get size(): number {
    return this.open.size;
  }

  values(): IterableIterator<H> {
    return this.open.values();
  }
}
