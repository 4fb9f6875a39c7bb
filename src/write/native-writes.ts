// NativeWrites: handles open for writing whose writes FUSE threads do themselves (the
// WritePort: pwrite into the staged file), and the wake-ups that let eager uploads start
// parts while such a file is written. The staged file takes what they wrote (its new
// size, the lowest offset written) whenever it is looked at: StagedFile.absorb().
import type { StagedFile } from './staging.js';

/** The FUSE layer's native table of staged files and the handles writing them. */
export interface WritePort {
  /** registers a staged file (its descriptor is dup'ed) of `size` bytes: its id, or -1 */
  open(fd: number, size: number): number;
  /** detaches its handles, waits for writes under way, forgets it */
  close(id: number): void;
  /** FUSE threads do the writes of handle `fh` into file `id`; false if not possible */
  attach(fh: number, id: number): boolean;
  /** once this returns FUSE threads start no more writes for `fh` */
  detach(fh: number): void;
  /**
   * Writes done since the last take, the size now, the lowest offset they wrote (-1: none)
   * and when the last write was (ms since the epoch, 0: never).
   */
  take(id: number): { writes: number; size: number; lowest: number; lastWriteMs: number };
  /** JS changed the size itself: exactly (truncate) or as a write that may extend it */
  setSize(id: number, size: number, exact: boolean): void;
  /** `fn` runs on the JS thread after a write ended past the file's trigger */
  arm(id: number, trigger: number): void;
  onTrigger(fn: () => void): void;
}

export class NativeWrites {
  /** staged files registered in the port, by id */
  private readonly files = new Map<number, StagedFile>();
  /** handles attached in the port */
  private readonly handles = new Set<number>();

  constructor(private readonly port: WritePort) {
    port.onTrigger(() => {
      for (const f of this.files.values()) f.absorb();
    });
  }

  /** Handle `fh` writes `staged`: FUSE threads do its writes from now on, if possible. */
  attach(fh: number, staged: StagedFile): boolean {
    const id = staged.enableNative(this.port, (closed) => this.files.delete(closed));
    if (id < 0) return false;
    this.files.set(id, staged);
    if (!this.port.attach(fh, id)) return false;
    this.handles.add(fh);
    return true;
  }

  /** Before the handle is released (its writes are taken in when the file is next looked at). */
  detach(fh: number): void {
    if (this.handles.delete(fh)) this.port.detach(fh);
  }
}
