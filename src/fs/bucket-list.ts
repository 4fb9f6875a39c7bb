// BucketList: the buckets at the root of a whole-account mount: ListBuckets cached for
// --metadata-ttl, a name not listed asked with HeadBucket (misses kept for --negative-ttl).
import type { AccountStore, BucketInfo } from '../s3/account-store.js';
import { invalidBucketName } from '../s3/bucket-names.js';
import type { Clock } from '../util/clock.js';
import { SingleFlight } from '../util/single-flight.js';

export interface BucketListOptions {
  account: Pick<AccountStore, 'listBuckets' | 'bucketExists'>;
  clock: Clock;
  ttlMs: number;
  negativeTtlMs: number;
}

export class BucketList {
  private last: { atMs: number; byName: Map<string, BucketInfo> } | undefined;
  private readonly flight = new SingleFlight<Map<string, BucketInfo>>();
  private readonly heads = new SingleFlight<boolean>();
  /** names HeadBucket did not find, until when (ms) */
  private readonly missing = new Map<string, number>();
  /** bumped by every change this mount makes: a listing sent before it is not kept */
  private changes = 0;

  constructor(private readonly o: BucketListOptions) {}

  private fresh(): Map<string, BucketInfo> | undefined {
    return this.last && this.o.clock.nowMs() - this.last.atMs < this.o.ttlMs ? this.last.byName : undefined;
  }

  private async byName(): Promise<Map<string, BucketInfo>> {
    const fresh = this.fresh();
    if (fresh) return fresh;
    return this.flight.run('list', async () => {
      const changes = this.changes;
      const atMs = this.o.clock.nowMs();
      const listed = await this.o.account.listBuckets();
      const byName = new Map(listed.map((b) => [b.name, b]));
      if (changes === this.changes) {
        this.last = { atMs, byName };
        this.missing.clear();
      }
      return byName;
    });
  }

  /** Every bucket, by name (ListBuckets, at most once per TTL). */
  async all(): Promise<BucketInfo[]> {
    return [...(await this.byName()).values()];
  }

  /** The bucket of this name if it exists and the keys may use it; HeadBucket if it was not listed. */
  async find(name: string): Promise<BucketInfo | undefined> {
    const listed = (await this.byName()).get(name);
    if (listed) return listed;
    // a name S3 would refuse cannot be a bucket made since the listing (.Trash, .hidden ...)
    if (invalidBucketName(name) !== undefined) return undefined;
    const until = this.missing.get(name);
    if (until !== undefined && this.o.clock.nowMs() < until) return undefined;
    const exists = await this.heads.run(name, () => this.o.account.bucketExists(name));
    if (!exists) {
      if (this.o.negativeTtlMs > 0) this.missing.set(name, this.o.clock.nowMs() + this.o.negativeTtlMs);
      return undefined;
    }
    const found = { name, createdMs: 0 };
    this.fresh()?.set(name, found);
    return found;
  }

  /** This mount made the bucket. */
  added(name: string, createdMs: number): void {
    this.changes++;
    this.missing.delete(name);
    this.last?.byName.set(name, { name, createdMs });
  }

  /** This mount deleted the bucket. */
  removed(name: string): void {
    this.changes++;
    this.last?.byName.delete(name);
  }
}
