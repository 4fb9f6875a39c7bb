// What a bucket holds and may hold, as Ceph RGW says in its HeadBucket answer
// (X-RGW-Bytes-Used, X-RGW-Object-Count, X-RGW-Quota-*); other servers say nothing.

export interface BucketUsage {
  bytesUsed: number;
  objectCount: number;
  /** the smallest size quota that applies (the bucket's or its owner's); undefined: none set */
  quotaBytes?: number;
  /** the smallest object-count quota that applies; undefined: none set */
  quotaObjects?: number;
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
  return {
    bytesUsed: Math.max(0, bytesUsed),
    objectCount: Math.max(0, objectCount),
    ...(quotaBytes !== undefined ? { quotaBytes } : {}),
    ...(quotaObjects !== undefined ? { quotaObjects } : {}),
  };
}
