// What a bucket holds and may hold, as Ceph RGW says in its HeadBucket answer
// (X-RGW-Bytes-Used, X-RGW-Object-Count, X-RGW-Quota-*); other servers say nothing.

export interface BucketUsage {
  bytesUsed: number;
  objectCount: number;
  /** the smallest size quota that applies (the bucket's or its owner's); undefined: none set */
  quotaBytes?: number;
  /** the smallest object-count quota that applies; undefined: none set */
  quotaObjects?: number;
  /** the owner's own quotas, which bound all their buckets together (sumUsage) */
  userQuotaBytes?: number;
  userQuotaObjects?: number;
}

/** The usage in HeadBucket's headers (lower-case names); undefined when the server sent none. */
export function parseRgwUsage(headers: Record<string, string | undefined>): BucketUsage | undefined {
  const num = (name: string): number | undefined => {
    const v = headers[name];
    if (v === undefined || !/^-?\d+$/.test(v.trim())) return undefined;
    return Number(v);
  };
  const bytesUsed = num('x-rgw-bytes-used');
  const objectCount = num('x-rgw-object-count');
  if (bytesUsed === undefined || objectCount === undefined) return undefined;
  // RGW sends -1 for a quota that is not set (or not enabled)
  const smallest = (...vs: (number | undefined)[]): number | undefined => {
    const set = vs.filter((v): v is number => v !== undefined && v >= 0);
    return set.length > 0 ? Math.min(...set) : undefined;
  };
  const quotaBytes = smallest(num('x-rgw-quota-bucket-size'), num('x-rgw-quota-user-size'));
  const quotaObjects = smallest(num('x-rgw-quota-bucket-objects'), num('x-rgw-quota-user-objects'));
  const userQuotaBytes = smallest(num('x-rgw-quota-user-size'));
  const userQuotaObjects = smallest(num('x-rgw-quota-user-objects'));
  return {
    bytesUsed: Math.max(0, bytesUsed),
    objectCount: Math.max(0, objectCount),
    ...(quotaBytes !== undefined ? { quotaBytes } : {}),
    ...(quotaObjects !== undefined ? { quotaObjects } : {}),
    ...(userQuotaBytes !== undefined ? { userQuotaBytes } : {}),
    ...(userQuotaObjects !== undefined ? { userQuotaObjects } : {}),
  };
}

/**
 * The usage of several buckets of one owner (a whole-account mount's df): bytes and
 * objects added up; the limit is the owner's quota, or the sum of the buckets' quotas if
 * every bucket has one, whichever is smaller. Undefined if no bucket told its usage.
 */
export function sumUsage(usages: (BucketUsage | undefined)[]): BucketUsage | undefined {
  const known = usages.filter((u): u is BucketUsage => u !== undefined);
  if (known.length === 0) return undefined;
  const total = (f: (u: BucketUsage) => number) => known.reduce((a, u) => a + f(u), 0);
  const limit = (
    each: (u: BucketUsage) => number | undefined,
    user: (u: BucketUsage) => number | undefined,
  ) => {
    const all = usages.every((u) => u !== undefined && each(u) !== undefined);
    const users = known.map(user).filter((v): v is number => v !== undefined);
    const candidates = [
      ...(all ? [known.reduce((a, u) => a + (each(u) ?? 0), 0)] : []),
      ...(users.length > 0 ? [Math.min(...users)] : []),
    ];
    return candidates.length > 0 ? Math.min(...candidates) : undefined;
  };
  const quotaBytes = limit(
    (u) => u.quotaBytes,
    (u) => u.userQuotaBytes,
  );
  const quotaObjects = limit(
    (u) => u.quotaObjects,
    (u) => u.userQuotaObjects,
  );
  return {
    bytesUsed: total((u) => u.bytesUsed),
    objectCount: total((u) => u.objectCount),
    ...(quotaBytes !== undefined ? { quotaBytes } : {}),
    ...(quotaObjects !== undefined ? { quotaObjects } : {}),
  };
}
