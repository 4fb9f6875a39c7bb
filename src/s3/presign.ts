// Presigned GET URLs for `s3mount share`: the SDK's presigner over the store's own client,
// so a URL has the mount's endpoint, addressing style (path or virtual host) and current keys.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/**
 * A URL anyone can GET `bucket`/`key` with for `expiresSec` seconds (SigV4 query
 * authentication: the signature and the access key id are in it, never the secret; a
 * session token is, as the presigner must put it there). Sends no request.
 */
export function presignGetUrl(
  client: S3Client,
  bucket: string,
  key: string,
  expiresSec: number,
): Promise<string> {
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: expiresSec });
}
