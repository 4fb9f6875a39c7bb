// UploadQueue: runs uploads of staged files one at a time per file, retries failures
// with backoff until they succeed (nothing written is dropped), and lets callers wait:
// flush/fsync wait for one file, unmount drains them all. A failure retrying cannot fix
// (quota, access denied, a key the server refuses) parks the file instead: it stays
// staged, is reported, and is tried again only when written again or at the next mount.
import type { Logger } from '../log/logger.js';
import { isPermanentFailure } from '../s3/errors.js';
import type { StagedFile } from './staging.js';
import type { UploadResult, Uploader } from './uploader.js';

export interface UploadQueueOptions {
  uploader: Uploader;
  logger: Logger;
  onUploaded: (file: StagedFile, result: UploadResult) => Promise<void>;
  retryBaseMs: number;
  retryMaxMs: number;
  /** the file's path in the mount, for reports (default: its key) */
  pathOf?: (file: StagedFile) => string;
}

/** A staged file whose upload failed in a way retrying cannot fix. */
export interface ParkedUpload {
  path: string;
  key: string;
  /** its data on local disk */
  stagedPath: string;
  reason: string;
  sinceMs: number;
}

interface FileState {
  /** when the queue first saw the file dirty (ms since the epoch) */
  sinceMs: number;
  running?: Promise<void>;
  timer?: NodeJS.Timeout;
  failures: number;
  lastError?: unknown;
  /** failed for good: no background retries, drain() does not wait for it */
  parked?: { reason: string; sinceMs: number };
}

export class UploadQueue {
  private readonly files = new Map<StagedFile, FileState>();
  private stopped = false;
  /** the most recent failed upload attempt, for status reports */
  private lastFailureInfo: { path: string; reason: string; atMs: number } | undefined;

  constructor(private readonly o: UploadQueueOptions) {}

  /** Files waiting to be uploaded (parked ones not counted). */
  get pending(): number {
    return [...this.files].filter(([f, st]) => f.dirty && !st.parked).length;
  }

  /** Files that failed for good and stay staged (for the exit log and a status command). */
  parked(): ParkedUpload[] {
    const out: ParkedUpload[] = [];
    for (const [f, st] of this.files) {
      if (st.parked && f.dirty)
        out.push({ path: this.pathOf(f), key: f.key, stagedPath: f.dataPath, ...st.parked });
    }
    return out;
  }

  /** Files the queue holds (dirty or under way). */
  known(): StagedFile[] {
    return [...this.files.keys()];
  }

  /** What the queue knows of a file's upload, for status reports. */
  describeFile(file: StagedFile): { sinceMs?: number; lastError?: string; parked?: string } {
    const st = this.files.get(file);
    if (!st) return {};
    return {
      sinceMs: st.sinceMs,
      ...(st.lastError !== undefined ? { lastError: describe(st.lastError) } : {}),
      ...(st.parked ? { parked: st.parked.reason } : {}),
    };
  }

  get lastFailure(): { path: string; reason: string; atMs: number } | undefined {
    return this.lastFailureInfo;
  }

  private pathOf(file: StagedFile): string {
    return this.o.pathOf?.(file) ?? file.key;
  }

  private state(file: StagedFile): FileState {
    let st = this.files.get(file);
    if (!st) {
      st = { failures: 0, sinceMs: Date.now() };
      this.files.set(file, st);
    }
    return st;
  }

  /** One upload attempt of the file's current content (after any attempt under way). */
  private async attempt(file: StagedFile): Promise<void> {
    const st = this.state(file);
    while (st.running) await st.running.catch(() => undefined); // its error went to its own caller
    if (!file.dirty) return;
    const run = (async () => {
      const generation = file.generation;
      let result: UploadResult;
      try {
        result = await this.o.uploader.upload(file);
      } catch (err) {
        if (file.generation === generation && !file.changing) throw err;
        // the file changed while it was read (an O_TRUNC open shrank it under the upload:
        // "staged file shorter than expected"): this attempt is overtaken, not failed. The
        // file is dirty (or will be once the truncate is done), so every caller's loop
        // uploads the new content next.
        this.o.logger.debug('upload overtaken by a change to the file', {
          key: file.key,
          error: describe(err),
        });
        return;
      }
      if (result.generation > file.uploadedGeneration) file.uploadedGeneration = result.generation;
      st.failures = 0;
      delete st.lastError;
      if (st.parked)
        this.o.logger.info('a file that could not be uploaded is uploaded now', {
          path: this.pathOf(file),
          key: file.key,
        });
      delete st.parked;
      await this.o.onUploaded(file, result);
    })();
    st.running = run;
    try {
      await run;
    } catch (err) {
      st.failures++;
      st.lastError = err;
      this.lastFailureInfo = { path: this.pathOf(file), reason: describe(err), atMs: Date.now() };
      if (isPermanentFailure(err)) this.park(file, st, err);
      else delete st.parked; // it may succeed now: retried like any other
      throw err;
    } finally {
      if (st.running === run) delete st.running;
      if (!file.dirty && !st.timer) this.files.delete(file);
    }
  }

  private park(file: StagedFile, st: FileState, err: unknown): void {
    st.parked = { reason: describe(err), sinceMs: Date.now() };
    this.o.logger.error(
      'upload cannot succeed; the file stays staged and is tried again when written again or at the next mount',
      {
        path: this.pathOf(file),
        key: file.key,
        staged: file.dataPath,
        reason: st.parked.reason,
      },
    );
  }

  /**
   * Uploads until the file is clean; a failure is thrown to the caller and retried in the
   * background (unless it parked the file). Always tries, also a parked file: a new
   * close or fsync is the moment to find out whether its reason went away.
   */
  async uploadNow(file: StagedFile): Promise<void> {
    this.cancelRetry(file);
    try {
      // writes through other handles may land during an upload: go again until clean
      while (file.dirty) await this.attempt(file);
    } catch (err) {
      // the data now waits on local disk for a retry: make it survive a power cut
      await file.sync().catch(() => undefined); // a closed (unlinked) file has nothing to sync
      this.retryLater(file); // not if parked
      throw err;
    }
  }

  /** Write-back: upload in the background, retrying until it succeeds. */
  schedule(file: StagedFile): void {
    this.cancelRetry(file);
    this.attempt(file).then(
      () => {
        if (file.dirty) this.schedule(file);
      },
      () => this.retryLater(file),
    );
  }

  private retryLater(file: StagedFile): void {
    if (this.stopped) return;
    const st = this.state(file);
    if (st.timer || st.parked) return;
    const delay = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** Math.max(0, st.failures - 1));
    this.o.logger.warn('upload failed; will retry', {
      path: this.pathOf(file),
      key: file.key,
      inMs: delay,
      failures: st.failures,
      error: describe(st.lastError),
    });
    st.timer = setTimeout(() => {
      delete st.timer;
      this.attempt(file).then(
        () => {
          if (file.dirty) this.retryLater(file);
          else
            this.o.logger.info('upload succeeded after retry', {
              path: this.pathOf(file),
              key: file.key,
              failures: st.failures,
            });
        },
        () => this.retryLater(file),
      );
    }, delay);
  }

  private cancelRetry(file: StagedFile): void {
    const st = this.files.get(file);
    if (st?.timer) {
      clearTimeout(st.timer);
      delete st.timer;
    }
  }

  /** Forgets a file (it was unlinked): no more uploads of it. */
  forget(file: StagedFile): void {
    this.cancelRetry(file);
    this.files.delete(file);
  }

  /**
   * Waits until every known file is uploaded, retrying with backoff (unmount). Parked
   * files are not waited for: they stay staged for the next mount (see parked()).
   */
  async drain(onWait?: (pending: number) => void): Promise<void> {
    for (;;) {
      const dirty = [...this.files].filter(([f, st]) => f.dirty && !st.parked).map(([f]) => f);
      if (dirty.length === 0) return;
      onWait?.(dirty.length);
      await Promise.allSettled(
        dirty.map((f) => {
          this.cancelRetry(f);
          return this.uploadNowQuiet(f);
        }),
      );
      // failed ones that are not parked go again after a pause
      const failed = dirty.filter((f) => f.dirty && !this.state(f).parked);
      if (failed.length > 0) {
        const st = failed.map((f) => this.state(f).failures).reduce((a, b) => Math.max(a, b), 1);
        await new Promise((r) =>
          setTimeout(r, Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (st - 1))),
        );
      }
    }
  }

  /**
   * Uploads these files now and waits (sync): each is tried at once, also a parked one (its
   * reason may be gone); ones that fail and can be retried go again with backoff until they
   * succeed or park. `onRound` sees the files still waiting before each round.
   */
  async settle(files: StagedFile[], onRound?: (waiting: StagedFile[]) => void): Promise<void> {
    let round = files.filter((f) => f.dirty);
    while (round.length > 0) {
      onRound?.(round);
      await Promise.allSettled(
        round.map((f) => {
          this.cancelRetry(f);
          return this.uploadNow(f);
        }),
      );
      round = files.filter((f) => f.dirty && this.files.has(f) && !this.state(f).parked);
      if (round.length > 0) {
        const failures = round.map((f) => this.state(f).failures).reduce((a, b) => Math.max(a, b), 1);
        await new Promise((r) =>
          setTimeout(r, Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (failures - 1))),
        );
      }
    }
  }

  private async uploadNowQuiet(file: StagedFile): Promise<void> {
    while (file.dirty) await this.attempt(file);
  }

  /** Stops background retries (daemon exit); staged files stay for the next run. */
  stop(): void {
    this.stopped = true;
    for (const f of this.files.keys()) this.cancelRetry(f);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
