// OpenFiles: files being written through this mount, by path. Each has one staged copy
// shared by all its handles; it is uploaded on flush/fsync (or in the background with
// write-back) and removed from local disk only once S3 has it and no handle is open.
// Invariant: whoever finds an open file counts its handle before it awaits anything.
import type { Logger } from '../log/logger.js';
import { metadataFromAttrs, type FileAttrs } from '../meta/attrs.js';
import type { MetadataCache, Node } from '../meta/metadata.js';
import { fileKey, pathOfKey } from '../meta/paths.js';
import type { ObjectStore } from '../s3/store.js';
import type { EagerUpload } from '../write/eager-upload.js';
import type { StagedFile, StagingArea } from '../write/staging.js';
import type { SettledOutcome, UploadOutcome, UploadQueue } from '../write/upload-queue.js';
import type { UploadResult } from '../write/uploader.js';
import { nodeOf, type OpenFile } from './open-file.js';

export type { OpenFile };

export interface OpenFilesOptions {
  staging: StagingArea;
  store: ObjectStore;
  meta: MetadataCache;
  prefix: string;
  writeBack: boolean;
  logger: Logger;
  uid: number;
  gid: number;
  queue: UploadQueue;
  /** starts uploading parts of a file written front to back while it is written */
  startEager?: (staged: StagedFile) => EagerUpload;
}

export class OpenFiles {
  private readonly byPath = new Map<string, OpenFile>();
  private readonly byStaged = new Map<StagedFile, OpenFile>();
  /** staged files an earlier run left: removed once uploaded */
  private readonly recovered = new Set<StagedFile>();
  /** background uploads whose end is awaited (each once) */
  private readonly followed = new WeakSet<Promise<SettledOutcome>>();
  /** what is done after background uploads ended (cache, dropping the local copy) */
  private readonly following = new Set<Promise<void>>();
  private readonly queue: UploadQueue;

  constructor(private readonly o: OpenFilesOptions) {
    this.queue = o.queue;
  }

  get(path: string): OpenFile | undefined {
    return this.byPath.get(path);
  }

  /** The path a staged file is written to (a file recovered from an earlier run: from its key). */
  pathOf(staged: StagedFile): string {
    return this.byStaged.get(staged)?.path ?? pathOfKey(this.o.prefix, staged.key);
  }

  /** Staged copies of the open files that are still to be uploaded (not unlinked ones). */
  stagedFiles(): StagedFile[] {
    return [...this.byStaged.values()].filter((of) => !of.unlinked).map((of) => of.staged);
  }

  /** Paths of open files directly inside directory `dir` (shown by readdir before upload). */
  childrenOf(dir: string): string[] {
    const out: string[] = [];
    const prefix = dir === '/' ? '/' : `${dir}/`;
    for (const p of this.byPath.keys()) {
      if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(p.slice(prefix.length));
    }
    return out;
  }

  /**
   * The open file of `path` for a new handle, or undefined if the path has none. It is
   * counted as the handle's at once, before anything is awaited: an open that found it
   * must not see its staged copy dropped meanwhile by the release of its last handle or
   * the end of its upload (both run while the kernel sends the next open: a close does
   * not wait for RELEASE). With `truncate` (O_TRUNC) it is emptied. The caller gives the
   * handle back with release(), also if what it does next fails.
   */
  async acquire(path: string, truncate: boolean): Promise<OpenFile | undefined> {
    const of = this.byPath.get(path);
    if (!of) return undefined;
    of.handles++;
    of.staged.syncFromNative(); // the op starts here: it sees every write FUSE threads did
    return this.joined(of, truncate);
  }

  /** The rest of acquire() once the handle is counted: `before`, then the truncate. */
  private async joined(of: OpenFile, truncate: boolean, before?: () => Promise<void>): Promise<OpenFile> {
    try {
      await before?.();
      if (truncate) await this.truncate(of, 0);
    } catch (err) {
      await this.release(of);
      throw err;
    }
    return of;
  }

  /**
   * Tracks a staged copy just made for `path`, counting the caller's handle. If another
   * open staged the same path while this one was being made (both looked it up before
   * either had staged it), the path keeps one copy: this one is dropped and the caller
   * joins the other, truncating it if it asked to.
   */
  private async track(
    path: string,
    staged: StagedFile,
    mtimeMs: number,
    truncate: boolean,
  ): Promise<OpenFile> {
    const other = this.byPath.get(path);
    if (other) {
      other.handles++;
      return this.joined(other, truncate, () => staged.remove());
    }
    const of: OpenFile = {
      path,
      staged,
      handles: 1,
      unlinked: false,
      mtimeMs,
      mtimeSet: false,
      pathChange: false,
    };
    this.byPath.set(path, of);
    this.byStaged.set(staged, of);
    return of;
  }

  /** A new, empty file (create, or open with O_TRUNC of a missing one), with the caller's handle counted. */
  async create(path: string, attrs: FileAttrs): Promise<OpenFile> {
    const now = Date.now();
    // no x-amz-meta-mtime unless utimens sets one: a new object's mtime is its LastModified
    const staged = await this.o.staging.create(fileKey(this.o.prefix, path), metadataFromAttrs(attrs));
    // a new file is dirty even if nothing is written: close creates the object
    staged.eager = this.o.startEager?.(staged);
    const of = await this.track(path, staged, now, true);
    if (of.staged === staged) this.o.meta.put(path, this.nodeOf(of));
    return of;
  }

  /** Stages an existing object for writing, with the caller's handle counted: its bytes are copied in unless truncating. */
  async openExisting(
    path: string,
    node: Extract<Node, { kind: 'file' | 'symlink' }>,
    truncate: boolean,
    metadata: Record<string, string>,
  ): Promise<OpenFile> {
    const key = fileKey(this.o.prefix, path);
    const staged = await this.o.staging.create(key, metadata);
    try {
      if (!truncate && node.size > 0) {
        const body = await this.o.store.getRange({
          key,
          start: 0,
          end: node.size,
          ...(node.etag ? { etag: node.etag } : {}),
        });
        let pos = 0;
        for await (const chunk of body)
          pos += await staged.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), pos);
      }
    } catch (err) {
      await staged.remove();
      throw err;
    }
    // the staged copy equals the object: no upload needed unless it was truncated
    if (!truncate || node.size === 0) staged.transition({ kind: 'same-as-object' });
    staged.lastWriteMs = 0; // copying the object in is not a write: mtime stays the object's
    if (truncate) staged.eager = this.o.startEager?.(staged);
    const of = await this.track(
      path,
      staged,
      truncate ? Date.now() : (node.attrs?.mtimeMs ?? node.mtimeMs),
      truncate,
    );
    if (truncate && of.staged === staged) this.o.meta.put(path, this.nodeOf(of));
    return of;
  }

  /** What stat shows for an open file: its staged copy's size and attributes. */
  nodeOf(of: OpenFile): Extract<Node, { kind: 'file' | 'symlink' }> {
    return nodeOf(of, this.o);
  }

  async truncate(of: OpenFile, size: number): Promise<void> {
    await of.staged.truncate(size);
  }

  async setAttrs(of: OpenFile, attrs: FileAttrs): Promise<void> {
    if (attrs.mtimeMs !== undefined) {
      of.mtimeMs = attrs.mtimeMs;
      of.mtimeSet = true;
    }
    await of.staged.setMetadata(metadataFromAttrs(attrs));
  }

  /** Before an upload of changed content: an mtime carried over from the old object is stale. */
  private async freshMtime(of: OpenFile): Promise<void> {
    if (!of.mtimeSet) await of.staged.dropMetadata('mtime');
  }

  /** close(): upload if dirty; waits for S3 unless write-back. */
  async flush(of: OpenFile): Promise<void> {
    if (of.unlinked || !of.staged.dirty) return;
    // the staged file's record is on disk: a crash from here on loses nothing (a create
    // did not wait for it)
    await of.staged.recorded();
    this.o.logger.debug('upload on close', {
      path: of.path,
      bytes: of.staged.size,
      writeBack: this.o.writeBack,
    });
    await this.freshMtime(of);
    if (this.o.writeBack) {
      // the data is in the staging file already (it outlives this daemon, not the
      // machine: fsync() is the way to ask for that). The upload starts at the last
      // release, not here: programs close dup'ed descriptors early (dd does, right
      // after open). No fsync of the staging file here: it cost 5-10 ms per close.
      return;
    } else {
      await this.outcome(of.staged, await this.queue.uploadNow(of.staged));
    }
  }

  /** fsync(): the data is in S3 when this returns, in both modes. */
  async fsync(of: OpenFile): Promise<void> {
    if (of.unlinked || !of.staged.dirty) return;
    await of.staged.recorded();
    await this.freshMtime(of);
    await this.outcome(of.staged, await this.queue.uploadNow(of.staged));
  }

  async release(of: OpenFile): Promise<void> {
    of.handles--;
    // (a change by path that came after the writers' last close, while the kernel had not
    // released them yet, has had no close of its own: uploaded now, as with write-back)
    if ((this.o.writeBack || of.pathChange) && of.handles === 0 && of.staged.dirty && !of.unlinked) {
      of.pathChange = false;
      this.follow(of.staged, this.queue.schedule(of.staged));
    }
    await this.maybeForget(of);
  }

  /** Drops the local copy once nothing needs it: no handle open and S3 has the content. */
  private async maybeForget(of: OpenFile): Promise<void> {
    if (of.handles > 0) return;
    if (of.staged.dirty && !of.unlinked) {
      // an upload that failed (retried by the queue) or runs in the background keeps it
      return;
    }
    if (this.byPath.get(of.path) === of) this.byPath.delete(of.path);
    this.byStaged.delete(of.staged);
    await of.staged.remove();
  }

  /**
   * What an upload flush, fsync or rename waited for came to: S3's new ETag goes to the
   * metadata cache; a failure is thrown to the op (a failed one is also retried in the
   * background, whose end is followed).
   */
  private async outcome(staged: StagedFile, o: UploadOutcome): Promise<void> {
    switch (o.kind) {
      case 'uploaded':
        return this.uploaded(staged, o);
      case 'clean':
      case 'superseded':
        return;
      case 'failed':
        this.follow(staged, o.retry);
        throw o.error;
      case 'parked':
        throw o.error;
      default:
        return exhaustive(o);
    }
  }

  /** Background uploads (write-back, retries, recovery): their end, when it comes, once each. */
  private follow(staged: StagedFile, p: Promise<SettledOutcome>): void {
    if (this.followed.has(p)) return;
    this.followed.add(p);
    const after = p
      .then((o) => (o.kind === 'uploaded' ? this.uploaded(staged, o) : undefined))
      .catch((err: unknown) =>
        this.o.logger.error('cannot drop a staged copy after its upload', {
          key: staged.key,
          error: String(err),
        }),
      )
      .finally(() => this.following.delete(after));
    this.following.add(after);
  }

  /** Waits until what follows finished background uploads is done (after the queue's drain). */
  async idle(): Promise<void> {
    while (this.following.size > 0) await Promise.all(this.following);
  }

  /** S3 has the file's content: the cache learns its ETag; the local copy goes once no handle needs it. */
  private async uploaded(staged: StagedFile, result: UploadResult): Promise<void> {
    const of = this.byStaged.get(staged);
    if (!of) {
      // recovered from an earlier run: nothing else refers to it
      if (!staged.dirty && this.recovered.delete(staged)) await staged.remove();
      return;
    }
    if (!of.unlinked) {
      const node = this.nodeOf(of);
      node.etag = result.etag;
      node.size = result.size;
      node.metadata = { ...result.metadata }; // with the checksum the upload stored
      if (!staged.dirty) this.o.meta.put(of.path, node);
    }
    if (of.handles === 0 && !staged.dirty) await this.maybeForget(of);
  }

  /** unlink of an open file: it stays readable by its handles and is never uploaded. */
  async unlinked(path: string): Promise<void> {
    const of = this.byPath.get(path);
    if (!of) return;
    of.unlinked = true;
    this.byPath.delete(path);
    this.queue.forget(of.staged);
    of.staged.eager?.cancel();
    of.staged.eager = undefined;
    if (of.handles === 0) {
      this.byStaged.delete(of.staged);
      await of.staged.remove();
    } else {
      // recorded, so that a restart while it is open drops it instead of uploading it
      of.staged.record.unlinked = true;
      await of.staged.setMetadata({});
    }
  }

  /** The open or pending files at `path` and, if it is a directory, below it. */
  private within(path: string): OpenFile[] {
    const file = this.byPath.get(path);
    if (file) return [file]; // a file open here is a file (getattr says so), whatever is staged below its name
    const below = path === '/' ? '/' : `${path}/`;
    return [...this.byPath.values()].filter((of) => of.path === path || of.path.startsWith(below));
  }

  /** rename of a path with open or pending files (at it or below it): upload them first, then move them. */
  async beforeRename(path: string): Promise<void> {
    for (const of of this.within(path)) {
      of.staged.syncFromNative(); // writes the C fast path took, below a renamed directory too
      if (!of.unlinked && of.staged.dirty)
        await this.outcome(of.staged, await this.queue.uploadNow(of.staged));
    }
  }

  /**
   * After a rename: an open file the rename replaced is unlinked (its handles keep it, it
   * is never uploaded); the files at `from` or below it move to the new name, so their
   * next close uploads there.
   */
  async renamed(from: string, to: string): Promise<void> {
    const moving = this.within(from);
    const replaced = this.byPath.get(to);
    if (replaced && !moving.includes(replaced)) await this.unlinked(to);
    for (const of of moving) await this.move(of, to + of.path.slice(from.length));
  }

  private async move(of: OpenFile, to: string): Promise<void> {
    this.byPath.delete(of.path);
    if (of.handles === 0 && !of.staged.dirty) {
      this.byStaged.delete(of.staged);
      await of.staged.remove();
      return;
    }
    const clean = !of.staged.dirty; // S3 has its bytes under the new name too: the rename copied them
    of.path = to;
    of.staged.record.key = fileKey(this.o.prefix, to);
    await of.staged.setMetadata({}); // rewrites the record with the new key
    if (clean) of.staged.transition({ kind: 'same-as-object' }); // the record's rewrite is no change of content
    this.byPath.set(to, of);
  }

  /** Staged files left by a crashed run: upload them (in the background). */
  async recover(): Promise<number> {
    const files: StagedFile[] = [];
    for (const f of await this.o.staging.recover()) {
      if (f.record.unlinked)
        await f.remove(); // unlinked while open when the daemon died
      else files.push(f);
    }
    for (const f of files) {
      this.o.logger.warn('uploading a file staged by an earlier run', { key: f.key, bytes: f.size });
      this.recovered.add(f);
      this.follow(f, this.queue.schedule(f));
    }
    return files.length;
  }
}

function exhaustive(x: never): never {
  throw new Error(`unhandled case ${JSON.stringify(x)}`);
}
