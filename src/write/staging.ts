// StagingArea: local files that hold written data until S3 has it. Each staged file has
// a data file and a manifest record (<id>.json: key, metadata, multipart uploads under way)
// so a restarted daemon finds and uploads what a crashed one left, and aborts its uploads.
// Directory 0700, files 0600; a file is removed only after upload.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { removeIfThere } from '../util/local-files.js';
import { StoreError } from '../s3/errors.js';
import { MAX_OBJECT_BYTES } from './part-plan.js';
import {
  INITIAL_STATE,
  transition,
  type StagedEvent,
  type StagedState,
  type StagedStateName,
} from './staged-state.js';
import type {
  EarlyUpload,
  MultipartLog,
  MultipartRecord,
  StagedRecord,
  UploadSource,
  WritePort,
} from './types.js';

export type { MultipartRecord, StagedRecord };

/**
 * A staged file may not grow past S3's largest object (5 TiB): the write or truncate fails
 * with EFBIG, as on a local file system with that limit (errno.ts passes it through; the
 * native write path refuses the same, s3m-writes.h), instead of an upload failing later.
 */
function checkFileSize(end: number, key: string): void {
  if (end > MAX_OBJECT_BYTES)
    throw Object.assign(new Error(`a file cannot grow past 5 TiB, S3's largest object (${key})`), {
      code: 'EFBIG',
    });
}

/** What the upload queue and the staging of an object may tell a staged file. */
export type UploadEvent = Exclude<StagedEvent, { kind: 'change' }>;

/**
 * A staged file. Its getters only report: writes FUSE threads did are taken in by
 * syncFromNative(), which S3FileSystem calls at the start of every op on the file (and
 * the native trigger does when a part may be complete). Its upload state changes only
 * through transition() (staged-state.ts).
 */
export class StagedFile implements UploadSource, MultipartLog {
  /** when a write or truncate last changed the content (ms since the epoch; 0: never) */
  lastWriteMs = 0;
  private st: StagedState = INITIAL_STATE;
  private sizeBytes: number;
  private eagerUpload: EarlyUpload | undefined;
  /** registered in the FUSE layer's WritePort: FUSE threads write into this file */
  private native: { port: WritePort; id: number; onClose: (id: number) => void } | undefined;
  private truncating = 0;
  private removed = false;
  /** record writes, one after another (each writes the record as it is then) */
  private recordWrites: Promise<void> = Promise.resolve();
  /** multipart uploads this run is still working on (the record's others are leftovers) */
  private readonly liveUploads = new Set<MultipartRecord>();

  constructor(
    readonly record: StagedRecord,
    readonly dataPath: string,
    private readonly recordPath: string,
    private readonly fh: FileHandle,
    size: number,
    /** the first write of the record, when it is still under way */
    firstRecordWrite?: Promise<void>,
  ) {
    this.sizeBytes = size;
    if (firstRecordWrite) this.recordWrites = firstRecordWrite;
  }

  /**
   * Settles once every record write so far has: resolved, the record on disk says what
   * this file is (a crash of this daemon no longer loses it); rejected with that write's
   * error (the record may be missing).
   */
  recorded(): Promise<void> {
    return this.recordWrites;
  }

  get key(): string {
    return this.record.key;
  }
  /** the size as JS last knew it (see syncFromNative) */
  get size(): number {
    return this.sizeBytes;
  }

  get state(): StagedStateName {
    return this.st.name;
  }

  /** bumped by every change; an upload is current if it uploaded this generation */
  get generation(): number {
    return this.st.generation;
  }

  /** S3 lacks this content (also while an upload of it runs) */
  get dirty(): boolean {
    return this.st.name !== 'uploaded';
  }

  /** The upload queue's (and an object's staging) news: see staged-state.ts. */
  transition(e: UploadEvent): void {
    this.st = transition(this.st, e);
  }

  /** The content or metadata changed: a new generation. */
  private changed(): void {
    this.st = transition(this.st, { kind: 'change' });
  }

  /**
   * A truncate is under way: the data file may already be shorter than `size` says, and
   * the new generation comes when it is done. An upload that failed reading the file
   * meanwhile was overtaken by the change, not failed.
   */
  get changing(): boolean {
    return this.truncating > 0;
  }

  /** parts uploaded while the file is being written front to back, if any */
  get eager(): EarlyUpload | undefined {
    return this.eagerUpload;
  }
  set eager(e: EarlyUpload | undefined) {
    this.eagerUpload = e;
    this.armNative();
  }

  async write(buf: Buffer, offset: number): Promise<number> {
    checkFileSize(offset + buf.length, this.key);
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, offset + done);
      done += bytesWritten;
    }
    this.sizeBytes = Math.max(this.sizeBytes, offset + buf.length);
    this.native?.port.setSize(this.native.id, this.sizeBytes, false);
    this.changed();
    this.lastWriteMs = Date.now();
    this.eagerUpload?.onWrite(offset);
    this.armNative();
    return done;
  }

  /**
   * FUSE threads do this file's writes from now on (for the handles the caller attaches):
   * registers it in `port`. Returns its id there, or -1 if that is not possible.
   */
  enableNative(port: WritePort, onClose: (id: number) => void): number {
    if (this.native) return this.native.id;
    if (this.removed) return -1;
    const id = port.open(this.fh.fd, this.sizeBytes);
    if (id < 0) return -1;
    this.native = { port, id, onClose };
    this.armNative();
    return id;
  }

  /**
   * Takes in what FUSE threads wrote since last time, as if JS had written it: the size,
   * a new generation, the write's effect on the eager upload. The one place where that
   * happens: S3FileSystem calls it at the start of every op on the file, NativeWrites when
   * FUSE threads pass the file's trigger.
   */
  syncFromNative(): void {
    const n = this.native;
    if (!n) return;
    const t = n.port.take(n.id);
    this.sizeBytes = t.size;
    if (t.writes === 0) return;
    this.changed();
    this.lastWriteMs = Math.max(this.lastWriteMs, t.lastWriteMs);
    this.eagerUpload?.onWrite(t.lowest >= 0 ? t.lowest : this.sizeBytes);
    this.armNative();
  }

  /** FUSE threads wake JS when the file grows enough for the eager upload's next part. */
  private armNative(): void {
    if (this.native) this.native.port.arm(this.native.id, this.eagerUpload?.nextPartAt() ?? Infinity);
  }

  private closeNative(): void {
    const n = this.native;
    if (!n) return;
    this.native = undefined;
    n.port.close(n.id);
    n.onClose(n.id);
  }

  async read(dest: Buffer, offset: number, length: number): Promise<number> {
    const size = this.size;
    if (offset >= size) return 0;
    const n = Math.min(length, size - offset);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.fh.read(dest, done, n - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** Fills `dest` from `start` (an upload's body); fails if the file is shorter. */
  async readFully(dest: Buffer, start: number): Promise<Buffer> {
    const n = await this.read(dest, start, dest.length);
    if (n !== dest.length)
      throw new StoreError('Other', `staged file shorter than expected (${n} of ${dest.length})`, {
        key: this.key,
      });
    return dest;
  }

  async truncate(size: number): Promise<void> {
    checkFileSize(size, this.key);
    this.truncating++;
    try {
      await this.fh.truncate(size);
    } finally {
      this.truncating--;
    }
    this.sizeBytes = size;
    this.native?.port.setSize(this.native.id, size, true);
    this.changed();
    this.lastWriteMs = Date.now();
    this.eagerUpload?.onTruncate(size);
    this.armNative();
  }

  /** Records metadata to upload with the data (mode, uid, gid, mtime). */
  async setMetadata(metadata: Record<string, string>): Promise<void> {
    Object.assign(this.record.metadata, metadata);
    this.changed();
    await this.saveRecord();
  }

  /** Removes one metadata entry (e.g. a stale mtime once the content changed). */
  async dropMetadata(name: string): Promise<void> {
    if (!(name in this.record.metadata)) return;
    const { [name]: _dropped, ...rest } = this.record.metadata;
    this.record.metadata = rest;
    await this.saveRecord();
  }

  /**
   * Writes the record as it is now, after any write under way (two at once would share
   * the temporary file). Nothing is written once the file is removed.
   */
  private saveRecord(): Promise<void> {
    const next = this.recordWrites
      .catch(() => undefined) // that write's failure went to its own caller
      .then(() => (this.removed ? undefined : writeRecord(this.recordPath, this.record)));
    this.recordWrites = next;
    return next;
  }

  /** Before CreateMultipartUpload is sent: the record says an upload of `key` may exist. */
  async multipartStarting(key: string): Promise<MultipartRecord> {
    const entry: MultipartRecord = { key, startedMs: Date.now() };
    (this.record.uploads ??= []).push(entry);
    this.liveUploads.add(entry);
    await this.saveRecord();
    return entry;
  }

  /** Its upload ID, recorded before any part is sent. */
  async multipartStarted(entry: MultipartRecord, uploadId: string): Promise<void> {
    entry.uploadId = uploadId;
    await this.saveRecord();
  }

  /** Completed or aborted (or known never to have been created): no longer recorded. */
  async multipartEnded(entry: MultipartRecord): Promise<void> {
    this.liveUploads.delete(entry);
    const uploads = this.record.uploads ?? [];
    const i = uploads.indexOf(entry);
    if (i < 0) return;
    uploads.splice(i, 1);
    if (uploads.length === 0) delete this.record.uploads;
    await this.saveRecord();
  }

  /** Given up by this run but still recorded (its abort failed): a leftover from now on. */
  multipartLeft(entry: MultipartRecord): void {
    this.liveUploads.delete(entry);
  }

  /** Recorded uploads nobody works on: left by a crashed run, or whose abort failed. */
  leftoverUploads(): MultipartRecord[] {
    return (this.record.uploads ?? []).filter((u) => !this.liveUploads.has(u));
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  /** Deletes data and record: only once S3 has the data, or when the file was unlinked. */
  async remove(): Promise<void> {
    this.removed = true;
    this.closeNative(); // before the descriptor it dup'ed is closed and the file deleted
    this.eagerUpload?.cancel();
    this.eagerUpload = undefined;
    await this.fh.close().catch(() => undefined); // already closed: nothing to release
    await this.recordWrites.catch(() => undefined); // a write under way must not outlive the removal
    // the record first: a crash in between leaves data without a record, which recovery skips
    await removeIfThere(this.recordPath);
    await Promise.all([removeIfThere(`${this.recordPath}.tmp`), removeIfThere(this.dataPath)]);
  }
}

async function writeRecord(path: string, record: StagedRecord): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
  await rename(tmp, path);
}

export class StagingArea {
  constructor(
    readonly dir: string,
    private readonly mountId: string,
    private readonly logger: Logger,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // also when an older run (or the user) made it with a wider mode: staged data is private
    await chmod(this.dir, 0o700);
  }

  async create(key: string, metadata: Record<string, string>): Promise<StagedFile> {
    const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const record: StagedRecord = {
      version: 1,
      id,
      mountId: this.mountId,
      key,
      metadata: { ...metadata },
      createdMs: Date.now(),
    };
    const dataPath = join(this.dir, `${id}.data`);
    const recordPath = join(this.dir, `${id}.json`);
    // A create is on the path of every new file (a program creating files waits for each
    // one): it waits only for the data file. The first record is written in place (one
    // small write; a new name, so nothing older can be torn) while the program writes;
    // close() waits for it (OpenFiles.flush), so what a close() accepted is recorded.
    const fh = await open(dataPath, 'w+', 0o600);
    const firstRecordWrite = writeFile(recordPath, JSON.stringify(record), { mode: 0o600, flag: 'wx' });
    firstRecordWrite.catch(() => undefined); // its error goes to whoever awaits recorded()
    return new StagedFile(record, dataPath, recordPath, fh, 0, firstRecordWrite);
  }

  /** Staged files a previous run of this mount left behind, oldest first. */
  async recover(): Promise<StagedFile[]> {
    const out: StagedFile[] = [];
    for (const name of (await readdir(this.dir)).filter((n) => n.endsWith('.json')).sort()) {
      const recordPath = join(this.dir, name);
      let record: StagedRecord;
      try {
        record = JSON.parse(await readFile(recordPath, 'utf8')) as StagedRecord;
      } catch (err) {
        this.logger.error('unreadable staging record left in place', {
          file: recordPath,
          error: String(err),
        });
        continue;
      }
      if (record.mountId !== this.mountId) continue;
      const dataPath = join(this.dir, `${record.id}.data`);
      try {
        const fh = await open(dataPath, 'r+');
        const { size } = await fh.stat();
        out.push(new StagedFile(record, dataPath, recordPath, fh, size));
      } catch (err) {
        this.logger.error('staging record without data left in place', {
          file: recordPath,
          error: String(err),
        });
      }
    }
    return out;
  }
}
