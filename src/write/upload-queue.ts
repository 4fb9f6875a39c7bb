// UploadQueue: runs uploads of staged files one at a time per file, retries failures
// with jittered exponential backoff until they succeed (nothing written is dropped), and answers with what
// happened (UploadOutcome): flush/fsync wait for one file, write-back and recovery get
// a promise of the end of the background work, unmount drains them all. A failure
// retrying cannot fix (quota, access denied, a key the server refuses) parks the file
// instead: it stays staged, is reported, and is tried again only when written again or
// at the next mount. The file's state changes (staged-state.ts) are made here.
import type { Logger } from '../log/logger.js';
import { isPermanentFailure } from '../s3/errors.js';
import { equalJitterMs } from '../util/backoff.js';
import { deferred, type Deferred } from '../util/deferred.js';
import type { StagedFile } from './staging.js';
import {
  describe,
  exhaustive,
  type Attempt,
  type ParkedUpload,
  type SettledOutcome,
  type UploadOutcome,
} from './upload-outcome.js';
import type { UploadResult, Uploader } from './uploader.js';

export type { ParkedUpload, SettledOutcome, UploadOutcome };

export interface UploadQueueOptions {
  uploader: Uploader;
  logger: Logger;
  retryBaseMs: number;
  retryMaxMs: number;
  /** the file's path in the mount, for reports (default: its key) */
  pathOf?: (file: StagedFile) => string;
}

interface FileState {
  /** when the queue first saw the file dirty (ms since the epoch) */
  sinceMs: number;
  running?: Promise<Attempt>;
  timer?: NodeJS.Timeout;
  failures: number;
  lastError?: unknown;
  /** failed for good: no background retries, drain() does not wait for it */
  parked?: { reason: string; sinceMs: number };
  /** settles when the background work on the file ends (schedule, retries) */
  background?: Deferred<SettledOutcome>;
}

export class UploadQueue {
  private readonly files = new Map<StagedFile, FileState>();
  /** unlinked: never uploaded again */
  private readonly forgotten = new WeakSet<StagedFile>();
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

  /** One upload attempt of the file's current content (after any attempt under way). Never throws. */
  private async attempt(file: StagedFile): Promise<Attempt> {
    let st: FileState;
    for (;;) {
      if (this.forgotten.has(file)) return { kind: 'superseded', why: 'forgotten' };
      st = this.state(file);
      if (!st.running) break;
      await st.running.catch(() => undefined); // its end went to its own caller
    }
    if (!file.dirty) {
      this.dropIfDone(file, st);
      return { kind: 'clean' };
    }
    const run = this.run(file, st);
    st.running = run;
    try {
      return await run;
    } finally {
      if (st.running === run) delete st.running;
      this.dropIfDone(file, st);
    }
  }

  private async run(file: StagedFile, st: FileState): Promise<Attempt> {
    const generation = file.generation;
    file.transition({ kind: 'upload-start' });
    let result: UploadResult;
    try {
      result = await this.o.uploader.upload(file);
    } catch (error) {
      if (file.generation !== generation || file.changing) {
        // the file changed while it was read (an O_TRUNC open shrank it under the upload:
        // "staged file shorter than expected"): this attempt is overtaken, not failed. The
        // file is dirty (or will be once the truncate is done): the next attempt uploads it.
        this.o.logger.debug('upload overtaken by a change to the file', {
          key: file.key,
          error: describe(error),
        });
        file.transition({ kind: 'upload-overtaken' });
        return { kind: 'overtaken' };
      }
      file.transition({ kind: 'upload-failed' });
      st.failures++;
      st.lastError = error;
      this.lastFailureInfo = { path: this.pathOf(file), reason: describe(error), atMs: Date.now() };
      if (!isPermanentFailure(error)) {
        delete st.parked; // it may succeed now: retried like any other
        return { kind: 'failed', error };
      }
      const parked = this.park(file, st, error);
      this.settle(st, parked);
      return parked;
    }
    file.transition({ kind: 'upload-done', generation: result.generation });
    st.failures = 0;
    delete st.lastError;
    if (st.parked)
      this.o.logger.info('a file that could not be uploaded is uploaded now', {
        path: this.pathOf(file),
        key: file.key,
      });
    delete st.parked;
    const uploaded: SettledOutcome = { kind: 'uploaded', ...result };
    if (!file.dirty) this.settle(st, uploaded);
    return uploaded;
  }

  private park(file: StagedFile, st: FileState, error: unknown): SettledOutcome {
    st.parked = { reason: describe(error), sinceMs: Date.now() };
    this.o.logger.error(
      'upload cannot succeed; the file stays staged and is tried again when written again or at the next mount',
      {
        path: this.pathOf(file),
        key: file.key,
        staged: file.dataPath,
        reason: st.parked.reason,
      },
    );
    return { kind: 'parked', error, reason: st.parked.reason };
  }

  /** The background work on the file is over: its promise settles with `outcome`. */
  private settle(st: FileState | undefined, outcome: SettledOutcome): void {
    const bg = st?.background;
    if (!st || !bg) return;
    delete st.background;
    bg.resolve(outcome);
  }

  /** A clean file with no retry timer and no background work to report is forgotten. */
  private dropIfDone(file: StagedFile, st: FileState): void {
    if (!file.dirty && !st.timer && !st.running && !st.background && this.files.get(file) === st)
      this.files.delete(file);
  }

  /**
   * Uploads until the file is clean and says how that went. A failure is retried in the
   * background (the outcome's `retry` settles when that ends) unless it parked the file.
   * Always tries, also a parked file: a new close or fsync is the moment to find out
   * whether its reason went away.
   */
  async uploadNow(file: StagedFile): Promise<UploadOutcome> {
    this.cancelRetry(file);
    let last: UploadOutcome = { kind: 'clean' };
    for (;;) {
      const a = await this.attempt(file);
      switch (a.kind) {
        case 'uploaded':
          last = a;
          if (!file.dirty) return a;
          continue; // writes through other handles landed during the upload: go again
        case 'overtaken':
          continue;
        case 'clean':
          return last;
        case 'superseded':
          return a;
        case 'parked':
          await this.syncQuietly(file);
          return a;
        case 'failed':
          await this.syncQuietly(file);
          return { kind: 'failed', error: a.error, retry: this.retryLater(file) };
        default:
          return exhaustive(a);
      }
    }
  }

  /** The data now waits on local disk for a retry: make it survive a power cut. */
  private async syncQuietly(file: StagedFile): Promise<void> {
    await file.sync().catch(() => undefined); // a closed (unlinked) file has nothing to sync
  }

  /**
   * Write-back: uploads in the background, retrying until it succeeds. The promise settles
   * when that work ends (uploaded, parked, or superseded); it never rejects.
   */
  schedule(file: StagedFile): Promise<SettledOutcome> {
    if (this.forgotten.has(file)) return Promise.resolve({ kind: 'superseded', why: 'forgotten' });
    if (this.stopped) return Promise.resolve({ kind: 'superseded', why: 'stopped' });
    this.cancelRetry(file);
    const bg = this.backgroundOf(this.state(file));
    void this.work(file);
    return bg;
  }

  private backgroundOf(st: FileState): Promise<SettledOutcome> {
    st.background ??= deferred<SettledOutcome>();
    return st.background.promise;
  }

  /**
   * Attempts until the file is clean (or parked, or forgotten), then settles its
   * background promise. A failure goes to a retry timer, or with `retry` false (drain,
   * which does its own waiting) ends the work.
   */
  private async work(file: StagedFile, retry = true): Promise<void> {
    for (;;) {
      const a = await this.attempt(file);
      if (a.kind === 'failed') {
        if (retry) void this.retryLater(file);
        return;
      }
      if ((a.kind === 'uploaded' || a.kind === 'overtaken') && file.dirty) continue;
      const st = this.files.get(file);
      if (a.kind !== 'overtaken') this.settle(st, a);
      if (st) this.dropIfDone(file, st);
      return;
    }
  }

  private retryLater(file: StagedFile): Promise<SettledOutcome> {
    if (this.stopped) return Promise.resolve({ kind: 'superseded', why: 'stopped' });
    if (this.forgotten.has(file)) return Promise.resolve({ kind: 'superseded', why: 'forgotten' });
    const st = this.state(file);
    const bg = this.backgroundOf(st);
    if (st.timer || st.parked) return bg;
    const delay = this.backoffMs(st.failures);
    this.o.logger.warn('upload failed; will retry', {
      path: this.pathOf(file),
      key: file.key,
      inMs: delay,
      failures: st.failures,
      error: describe(st.lastError),
    });
    st.timer = setTimeout(() => {
      delete st.timer;
      const failures = st.failures;
      void this.work(file).then(() => {
        if (!file.dirty)
          this.o.logger.info('upload succeeded after retry', {
            path: this.pathOf(file),
            key: file.key,
            failures,
          });
      });
    }, delay);
    return bg;
  }

  /** the wait before the next try after `failures` failures: 1 s, 2 s, 4 s ... (half to all of it) */
  private backoffMs(failures: number): number {
    return equalJitterMs(Math.max(1, failures), { baseMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs });
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
    this.forgotten.add(file);
    this.settle(this.files.get(file), { kind: 'superseded', why: 'forgotten' });
    this.files.delete(file);
  }

  /**
   * Waits until every known file is uploaded, retrying with backoff (unmount). Parked
   * files are not waited for: they stay staged for the next mount (see parked()).
   */
  async drain(onWait?: (pending: number) => void): Promise<void> {
    for (;;) {
      const dirty = [...this.files]
        .filter(([f, st]) => f.dirty && !st.parked && !this.forgotten.has(f))
        .map(([f]) => f);
      if (dirty.length === 0) return;
      onWait?.(dirty.length);
      await Promise.all(
        dirty.map((f) => {
          this.cancelRetry(f);
          return this.work(f, false);
        }),
      );
      // failed ones that are not parked go again after a pause
      const failed = dirty.filter((f) => f.dirty && !this.state(f).parked);
      if (failed.length > 0) {
        const failures = failed.map((f) => this.state(f).failures).reduce((a, b) => Math.max(a, b), 1);
        await new Promise((r) => setTimeout(r, this.backoffMs(failures)));
      }
    }
  }

  /**
   * Uploads these files now and waits (sync): each is tried at once, also a parked one (its
   * reason may be gone); ones that fail and can be retried go again with backoff until they
   * succeed or park. `onRound` sees the files still waiting before each round.
   */
  async uploadAll(files: StagedFile[], onRound?: (waiting: StagedFile[]) => void): Promise<void> {
    let round = files.filter((f) => f.dirty && !this.forgotten.has(f));
    while (round.length > 0) {
      onRound?.(round);
      await Promise.all(round.map((f) => this.uploadNow(f)));
      round = files.filter(
        (f) => f.dirty && !this.forgotten.has(f) && this.files.has(f) && !this.state(f).parked,
      );
      if (round.length > 0) {
        const failures = round.map((f) => this.state(f).failures).reduce((a, b) => Math.max(a, b), 1);
        await new Promise((r) => setTimeout(r, this.backoffMs(failures)));
      }
    }
  }

  /** Stops background retries (daemon exit); staged files stay for the next run. */
  stop(): void {
    this.stopped = true;
    for (const [f, st] of this.files) {
      this.cancelRetry(f);
      this.settle(st, { kind: 'superseded', why: 'stopped' });
    }
  }
}
