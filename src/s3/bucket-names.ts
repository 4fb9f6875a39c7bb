// S3's bucket naming rules (the ones AWS and Ceph RGW enforce for new buckets), checked
// before a CreateBucket so that `mkdir MNT/Bad_Name` in a whole-account mount is EINVAL.

/** 3-63 characters: lower-case letters, digits, dots and hyphens, a letter or digit at each end */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Why `name` cannot be a bucket name, or undefined if it can. */
export function invalidBucketName(name: string): string | undefined {
  if (!BUCKET_NAME.test(name))
    return 'a bucket name is 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit';
  if (name.includes('..') || name.includes('.-') || name.includes('-.'))
    return 'a bucket name has no two dots, and no dot next to a hyphen';
  if (IPV4.test(name)) return 'a bucket name cannot look like an IP address';
  if (name.startsWith('xn--') || name.endsWith('-s3alias'))
    return 'a bucket name cannot use a reserved prefix or suffix';
  return undefined;
}
