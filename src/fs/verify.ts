// Verifier: behind `s3mount verify`. Re-reads objects from S3 (not from any cache) and
// checks each against the SHA-256 its upload stored in its metadata (write/checksum.ts).
// Directories are verified with everything below them; files not uploaded yet say so.
// What a path is comes from S3 too (HEAD and a one-key listing, as a lookup does), not
// from the mount's caches: an object another client just wrote is verified as well.
import { createHash } from 'node:crypto';
import { attrsFromMetadata, isSymlinkMode } from '../meta/attrs.js';
import { dirPrefix, fileKey, pathOfKey } from '../meta/paths.js';
import { isStoreError } from '../s3/errors.js';
import type { ObjectStore } from '../s3/store.js';
import { Semaphore } from '../util/semaphore.js';
import { CHECKSUM_METADATA } from '../write/checksum.js';
import { isWithin } from './pending-uploads.js';

/** objects read at once: enough to keep a link busy, few enough to leave the mount's own reads room */
export const VERIFY_CONCURRENCY = 4;

export type VerifyStatus = 'ok' | 'mismatch' | 'no-checksum' | 'staged' | 'skipped' | 'error';

export interface VerifyEntry {
  path: string;
  status: VerifyStatus;
  detail?: string;
}

export interface VerifyProgress {
  filesLeft: number;
  bytesLeft: number;
  filesTotal: number;
  bytesTotal: number;
}

export interface VerifierOptions {
  store: ObjectStore;
  prefix: string;
  /** mount paths of files written and not in S3 yet */
  stagedPaths(): string[];
}

interface Target {
  path: string;
  key: string;
  size: number;
}

export class Verifier {
  constructor(private readonly o: VerifierOptions) {}

  /** One entry per file at or below `paths` (mount paths), in path order. */
  async verify(paths: string[], onProgress?: (p: VerifyProgress) => void): Promise<VerifyEntry[]> {
    const staged = this.o.stagedPaths();
    const entries: VerifyEntry[] = [];
    const targets = new Map<string, Target>();
    const stagedEntry = (path: string): VerifyEntry => ({
      path,
      status: 'staged',
      detail: 'written through the mount and not uploaded yet: nothing in S3 to verify',
    });
    for (const path of paths) {
      try {
        const n = await this.lookup(path);
        if (n?.kind === 'dir') {
          for (const s of staged) if (isWithin(s, path)) entries.push(stagedEntry(s));
          for (const t of await this.below(path)) if (!staged.includes(t.path)) targets.set(t.path, t);
        } else if (staged.includes(path)) entries.push(stagedEntry(path));
        else if (!n) entries.push({ path, status: 'error', detail: 'no such file or directory' });
        else targets.set(path, { path, key: fileKey(this.o.prefix, path), size: n.size });
      } catch (err) {
        entries.push({ path, status: 'error', detail: describe(err) });
      }
    }
    const all = [...targets.values()];
    const progress = {
      filesTotal: all.length,
      filesLeft: all.length,
      bytesTotal: all.reduce((a, t) => a + t.size, 0),
      bytesLeft: 0,
    };
    progress.bytesLeft = progress.bytesTotal;
    onProgress?.({ ...progress });
    const slots = new Semaphore(VERIFY_CONCURRENCY);
    entries.push(
      ...(await Promise.all(
        all.map((t) =>
          slots.run(async () => {
            const e = await this.verifyOne(t);
            progress.filesLeft--;
            progress.bytesLeft -= t.size;
            onProgress?.({ ...progress });
            return e;
          }),
        ),
      )),
    );
    // dedupe (a path given twice, or a file and its directory) and sort
    const byPath = new Map(entries.map((e) => [e.path, e]));
    return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** What `path` is in S3: a directory (keys below it; they shadow a file) or a file. */
  private async lookup(path: string): Promise<{ kind: 'dir' } | { kind: 'file'; size: number } | undefined> {
    if (path === '/') return { kind: 'dir' };
    const [below, head] = await Promise.all([
      this.o.store.list({ prefix: dirPrefix(this.o.prefix, path), maxKeys: 1 }),
      this.o.store.head(fileKey(this.o.prefix, path)).catch((err: unknown) => {
        if (isStoreError(err, 'NotFound')) return undefined;
        throw err;
      }),
    ]);
    if (below.objects.length > 0 || below.prefixes.length > 0) return { kind: 'dir' };
    return head ? { kind: 'file', size: head.size } : undefined;
  }

  /** Every object below directory `path` (not directory markers). */
  private async below(path: string): Promise<Target[]> {
    const prefix = dirPrefix(this.o.prefix, path);
    const out: Target[] = [];
    let token: string | undefined;
    do {
      const page = await this.o.store.list({
        prefix,
        ...(token !== undefined ? { continuationToken: token } : {}),
      });
      for (const o of page.objects)
        if (!o.key.endsWith('/'))
          out.push({ path: pathOfKey(this.o.prefix, o.key), key: o.key, size: o.size });
      token = page.nextToken;
    } while (token !== undefined);
    return out;
  }

  private async verifyOne(t: Target): Promise<VerifyEntry> {
    try {
      const info = await this.o.store.head(t.key);
      if (isSymlinkMode(attrsFromMetadata(info.metadata).mode))
        return { path: t.path, status: 'skipped', detail: 'a symbolic link' };
      const stored = info.metadata?.[CHECKSUM_METADATA];
      if (stored === undefined)
        return { path: t.path, status: 'no-checksum', detail: 'the object has no stored SHA-256' };
      const hash = createHash('sha256');
      if (info.size > 0) {
        const body = await this.o.store.getRange({
          key: t.key,
          start: 0,
          end: info.size,
          ...(info.etag ? { etag: info.etag } : {}),
        });
        for await (const chunk of body) hash.update(chunk);
      }
      const read = hash.digest('hex');
      if (read === stored.toLowerCase()) return { path: t.path, status: 'ok' };
      return { path: t.path, status: 'mismatch', detail: `stored sha256 ${stored}, read ${read}` };
    } catch (err) {
      if (isStoreError(err, 'NotFound'))
        return { path: t.path, status: 'error', detail: 'no such object (deleted meanwhile?)' };
      if (isStoreError(err, 'PreconditionFailed'))
        return {
          path: t.path,
          status: 'error',
          detail: 'the object changed while it was read: verify again',
        };
      return { path: t.path, status: 'error', detail: describe(err) };
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
