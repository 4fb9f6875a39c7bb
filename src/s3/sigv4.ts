// AWS Signature Version 4 for the requests lean-s3.ts sends itself (a PUT or a ranged
// GET of one object, path-style): the canonical request, the string to sign and the
// Authorization header, as the SDK's signer (@smithy/signature-v4) makes them for the
// same request (a unit test signs both ways and compares). Synchronous: one SHA-256 of
// the canonical request and one HMAC with a signing key kept per day and region.
import { createHash, createHmac } from 'node:crypto';

export interface SigningKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface RequestToSign {
  method: string;
  /** the Host header: host, and `:port` unless it is the scheme's default */
  host: string;
  /** the encoded path (each segment as uriEscape leaves it; `/` kept) */
  path: string;
  /** header names lower-case; host, x-amz-date and x-amz-content-sha256 are added here */
  headers: Record<string, string>;
  /** hex SHA-256 of the body */
  payloadHash: string;
}

/** the SHA-256 of an empty body, hex */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** S3's path encoding of one key segment (the SDK's extendedEncodeURIComponent). */
export function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `/bucket/key` with each segment of the key escaped, `/` kept: the path and its canonical form. */
export function objectPath(bucket: string, key: string): string {
  return `/${uriEscape(bucket)}/${key.split('/').map(uriEscape).join('/')}`;
}

/** `20261130T212500Z` and `20261130` for a time in ms. */
export function amzDate(ms: number): { long: string; short: string } {
  const long = new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return { long, short: long.slice(0, 8) };
}

export class SigV4Signer {
  private keyCache: { day: string; secret: string; key: Buffer } | undefined;

  constructor(
    private readonly region: string,
    private readonly service = 's3',
  ) {}

  /**
   * The headers to send: the request's own, plus host, x-amz-date, x-amz-content-sha256,
   * x-amz-security-token (with a session token) and authorization, at time `nowMs`.
   */
  sign(req: RequestToSign, keys: SigningKeys, nowMs: number): Record<string, string> {
    const date = amzDate(nowMs);
    const headers: Record<string, string> = {
      ...req.headers,
      host: req.host,
      'x-amz-content-sha256': req.payloadHash,
      'x-amz-date': date.long,
    };
    if (keys.sessionToken) headers['x-amz-security-token'] = keys.sessionToken;
    const names = Object.keys(headers).sort();
    let canonicalHeaders = '';
    for (const n of names) canonicalHeaders += `${n}:${(headers[n] as string).trim().replace(/\s+/g, ' ')}\n`;
    const signedHeaders = names.join(';');
    const canonical = `${req.method}\n${req.path}\n\n${canonicalHeaders}\n${signedHeaders}\n${req.payloadHash}`;
    const scope = `${date.short}/${this.region}/${this.service}/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${date.long}\n${scope}\n${sha256Hex(canonical)}`;
    const signature = createHmac('sha256', this.signingKey(keys.secretAccessKey, date.short))
      .update(toSign)
      .digest('hex');
    headers.authorization =
      `AWS4-HMAC-SHA256 Credential=${keys.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }

  /** HMAC chain of secret, day, region, service; kept while the day and secret are the same */
  private signingKey(secret: string, day: string): Buffer {
    const c = this.keyCache;
    if (c && c.day === day && c.secret === secret) return c.key;
    let key = hmac(`AWS4${secret}`, day);
    key = hmac(key, this.region);
    key = hmac(key, this.service);
    key = hmac(key, 'aws4_request');
    this.keyCache = { day, secret, key };
    return key;
  }
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
