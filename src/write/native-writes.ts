// NativeWrites: handles open for writing whose writes FUSE threads do themselves (the
// WritePort: pwrite into the staged file), and the wake-ups that let eager uploads start
// parts while such a file is written. The staged file takes what they wrote (its new
// size, the lowest offset written) in StagedFile.syncFromNative(): at the start of every
// op on it (S3FileSystem), and here when FUSE threads pass its trigger.
import type { StagedFile } from './staging.js';
import type { WritePort } from './types.js';

export type { WritePort };

export class NativeWrites {
  /** staged files registered in the port, by id */
  private readonly files = new Map<number, StagedFile>();
  /** handles attached in the port */
  private readonly handles = new Set<number>();

  constructor(private readonly port: WritePort) {
    port.onTrigger(() => {
      for (const f of this.files.values()) f.syncFromNative();
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
