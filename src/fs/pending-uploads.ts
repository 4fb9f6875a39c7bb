// PendingUploads: what written data is not in S3 yet (open files and the upload queue's),
// for status reports, and the flush barrier behind `s3mount sync`.
import type { StagedFile } from '../write/staging.js';
import type { UploadQueue } from '../write/upload-queue.js';
import type { OpenFiles } from './open-files.js';

export interface PendingUpload {
  path: string;
  key: string;
  bytes: number;
  stagedPath: string;
  sinceMs: number;
  lastError?: string;
  parked: boolean;
}

export interface SyncProgress {
  filesLeft: number;
  bytesLeft: number;
  filesTotal: number;
  bytesTotal: number;
}

export interface SyncOutcome {
  uploaded: number;
  failed: { path: string; stagedPath: string; reason: string }[];
}

/** Whether `path` is `dir` or lies under it (both absolute mount paths). */
export function isWithin(path: string, dir: string): boolean {
  if (dir === '/' || path === dir) return true;
  return path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

export class PendingUploads {
  constructor(
    private readonly openFiles: OpenFiles,
    private readonly queue: UploadQueue,
  ) {}

  private dirtyFiles(): StagedFile[] {
    const all = new Set<StagedFile>([...this.queue.known(), ...this.openFiles.stagedFiles()]);
    for (const f of all) f.syncFromNative(); // writes the C fast path took count too
    return [...all].filter((f) => f.dirty);
  }

  /** Every file written and not in S3 yet, oldest first. */
  list(): PendingUpload[] {
    const now = Date.now();
    return this.dirtyFiles()
      .map((f) => {
        const q = this.queue.describeFile(f);
        return {
          path: this.openFiles.pathOf(f),
          key: f.key,
          bytes: f.size,
          stagedPath: f.dataPath,
          sinceMs: q.sinceMs ?? (f.lastWriteMs || now),
          ...(q.lastError !== undefined ? { lastError: q.lastError } : {}),
          parked: q.parked !== undefined,
        };
      })
      .sort((a, b) => a.sinceMs - b.sinceMs);
  }

  /** Whether the file at this path has data S3 does not have yet (dirty, uploading or failed). */
  isStaged(path: string): boolean {
    return this.dirtyFiles().some((f) => this.openFiles.pathOf(f) === path);
  }

  /**
   * Uploads everything written under these mount paths now and waits until each file is
   * in S3 or has failed for good; those stay staged and are returned.
   */
  async sync(paths: string[], onProgress?: (p: SyncProgress) => void): Promise<SyncOutcome> {
    const files = this.dirtyFiles().filter((f) => paths.some((p) => isWithin(this.openFiles.pathOf(f), p)));
    const bytesTotal = files.reduce((a, f) => a + f.size, 0);
    const report = () => {
      const left = files.filter((f) => f.dirty);
      onProgress?.({
        filesLeft: left.length,
        bytesLeft: left.reduce((a, f) => a + f.size, 0),
        filesTotal: files.length,
        bytesTotal,
      });
    };
    const timer = setInterval(report, 500);
    try {
      await this.queue.uploadAll(files, report);
    } finally {
      clearInterval(timer);
    }
    report();
    const failed = files
      .filter((f) => f.dirty)
      .map((f) => {
        const q = this.queue.describeFile(f);
        return {
          path: this.openFiles.pathOf(f),
          stagedPath: f.dataPath,
          reason: q.parked ?? q.lastError ?? 'not uploaded',
        };
      });
    return { uploaded: files.length - failed.length, failed };
  }
}
