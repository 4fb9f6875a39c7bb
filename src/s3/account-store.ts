// AccountStore: the buckets the keys can see (ListBuckets, HeadBucket, CreateBucket,
// DeleteBucket) and an ObjectStore per bucket, all over the one S3 client of the mount.
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  type BucketLocationConstraint,
  type ListBucketsCommandOutput,
} from '@aws-sdk/client-s3';
import { isStoreError } from './errors.js';
import type { SdkObjectStore } from './sdk-store.js';
import type { ObjectStore } from './store.js';

export interface BucketInfo {
  name: string;
  /** CreationDate (ms since the epoch; 0 if the server did not say) */
  createdMs: number;
}

/** What a whole-account mount asks of S3 besides objects; every method throws StoreError only. */
export interface AccountStore {
  /** every bucket the keys can see, by name */
  listBuckets(signal?: AbortSignal): Promise<BucketInfo[]>;
  /** whether the bucket exists and these keys may use it (HeadBucket: 200) */
  bucketExists(name: string, signal?: AbortSignal): Promise<boolean>;
  /** BucketExists if the name is taken, InvalidBucketName if the server refuses it */
  createBucket(name: string): Promise<void>;
  /** BucketNotEmpty if it has keys */
  deleteBucket(name: string): Promise<void>;
  /** the objects of one bucket, over the same connections and keys */
  storeFor(name: string): ObjectStore;
}

/** AccountStore over a SdkObjectStore's client (its own bucket is not used). */
export class SdkAccountStore implements AccountStore {
  private readonly stores = new Map<string, SdkObjectStore>();

  /** `region`: new buckets are made there (a LocationConstraint unless us-east-1, S3's default) */
  constructor(
    private readonly root: SdkObjectStore,
    private readonly region: string,
  ) {}

  async listBuckets(signal?: AbortSignal): Promise<BucketInfo[]> {
    const out = await this.root.sendAccountCommand<ListBucketsCommandOutput>(
      'ListBuckets',
      new ListBucketsCommand({}),
      signal,
    );
    return (out.Buckets ?? [])
      .filter((b): b is typeof b & { Name: string } => typeof b.Name === 'string' && b.Name !== '')
      .map((b) => ({ name: b.Name, createdMs: b.CreationDate?.getTime() ?? 0 }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async bucketExists(name: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.root.sendAccountCommand('HeadBucket', new HeadBucketCommand({ Bucket: name }), signal);
      return true;
    } catch (err) {
      // 404: no such bucket; 403: someone else's (HeadBucket has no body to say more)
      if (
        isStoreError(err, 'NotFound') ||
        isStoreError(err, 'NoSuchBucket') ||
        isStoreError(err, 'AccessDenied')
      )
        return false;
      throw err;
    }
  }

  async createBucket(name: string): Promise<void> {
    await this.root.sendAccountCommand(
      'CreateBucket',
      new CreateBucketCommand({
        Bucket: name,
        ...(this.region !== 'us-east-1'
          ? { CreateBucketConfiguration: { LocationConstraint: this.region as BucketLocationConstraint } }
          : {}),
      }),
    );
  }

  async deleteBucket(name: string): Promise<void> {
    await this.root.sendAccountCommand('DeleteBucket', new DeleteBucketCommand({ Bucket: name }));
    this.stores.delete(name);
  }

  storeFor(name: string): SdkObjectStore {
    let s = this.stores.get(name);
    if (!s) {
      s = this.root.forBucket(name);
      this.stores.set(name, s);
    }
    return s;
  }
}
