// Response checks: an answer is accepted only if it is a valid S3 answer to its request.
// A web server, proxy or captive portal answering 200 with a page must fail the operation
// (and preflight), never pass for a stored object or an empty listing.
import { StoreError } from './errors.js';

/** Operations whose successful answer may legitimately be an object served as HTML. */
const OBJECT_BODY_OPS = new Set(['GetObject', 'HeadObject']);

/** What each operation's 2xx answer must carry, beyond not being a web page. */
const REQUIRED_HEADERS: Record<string, readonly string[]> = {
  PutObject: ['etag'],
  UploadPart: ['etag'],
  HeadObject: ['content-length'],
};

export function invalidResponse(op: string, why: string, key?: string): StoreError {
  return new StoreError(
    'InvalidResponse',
    `the endpoint's answer to ${op} is not a valid S3 response (${why})`,
    { op, ...(key !== undefined ? { key } : {}) },
  );
}

/**
 * Checks a 2xx answer's status line and headers (lower-case names) for `op`, the SDK's
 * command name without "Command". Throws InvalidResponse.
 */
export function checkResponseHead(
  op: string,
  statusCode: number,
  headers: Record<string, string | undefined>,
): void {
  if (statusCode < 200 || statusCode >= 300) return;
  const type = (headers['content-type'] ?? '').toLowerCase();
  if (!OBJECT_BODY_OPS.has(op) && type.startsWith('text/html'))
    throw invalidResponse(op, `HTTP ${statusCode} with an HTML page: is the endpoint an S3 server?`);
  for (const h of REQUIRED_HEADERS[op] ?? []) {
    if (!headers[h])
      throw invalidResponse(op, `HTTP ${statusCode} without ${h === 'etag' ? 'an ETag' : `a ${h}`} header`);
  }
  if (op === 'HeadObject' && !headers['etag'] && !headers['last-modified'])
    throw invalidResponse(op, 'neither ETag nor Last-Modified');
}

export interface RangeExpectation {
  key: string;
  /** first byte, inclusive */
  start: number;
  /** last byte, exclusive */
  end: number;
  /** the ETag the bytes must come from, when pinned */
  etag?: string;
  /** the size of the object they must come from, when known */
  objectSize?: number;
}

/**
 * Checks the head of a ranged GET's answer before any body byte is used: the bytes are
 * exactly [start, end) of the object (Content-Range and Content-Length), of the pinned
 * version (ETag) and of the object's known size (Content-Range's total). A 200 (a server
 * that ignored Range) is accepted only when it is the whole object and exactly the bytes
 * asked.
 */
export function checkRangeHead(
  want: RangeExpectation,
  statusCode: number,
  headers: Record<string, string | undefined>,
  normalizeEtag: (e: string | undefined) => string,
): void {
  const op = 'GetObject';
  // another version first: its other length or range says the object changed (a server
  // that ignores If-Match answers a ranged GET of a replaced object with the new one)
  if (want.etag) {
    const got = normalizeEtag(headers['etag']);
    if (got && got !== want.etag)
      throw new StoreError('PreconditionFailed', 'object changed (ETag mismatch)', { key: want.key, op });
  }
  const length = headers['content-length'];
  // another size: another version, whether or not the read is pinned (a version known
  // without an ETag, a server that ignores If-Match): its bytes are not the ones asked for
  if (want.objectSize !== undefined) {
    const total = statusCode === 206 ? /\/(\d+)\s*$/.exec(headers['content-range'] ?? '')?.[1] : length;
    if (total !== undefined && statusCode < 300 && Number(total) !== want.objectSize) {
      const why = `object changed (its size is ${total}, not ${want.objectSize})`;
      throw new StoreError('PreconditionFailed', why, { key: want.key, op });
    }
  }
  const expect = want.end - want.start;
  if (length !== undefined && Number(length) !== expect)
    throw invalidResponse(op, `Content-Length ${length}, asked for ${expect} bytes`, want.key);
  if (statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((headers['content-range'] ?? '').trim());
    if (!m)
      throw invalidResponse(
        op,
        `206 with Content-Range ${JSON.stringify(headers['content-range'] ?? null)}`,
        want.key,
      );
    if (Number(m[1]) !== want.start || Number(m[2]) !== want.end - 1) {
      throw invalidResponse(
        op,
        `bytes ${m[1]}-${m[2]} sent for bytes ${want.start}-${want.end - 1}`,
        want.key,
      );
    }
  } else if (statusCode === 200) {
    if (want.start !== 0 || length === undefined)
      throw invalidResponse(op, '200 without Content-Range for a ranged GET', want.key);
  } else {
    throw invalidResponse(op, `HTTP ${statusCode} for a ranged GET`, want.key);
  }
  if (want.etag && !normalizeEtag(headers['etag']))
    throw invalidResponse(op, 'no ETag on an answer pinned to one', want.key);
}

/** The SDK's HttpResponse as a middleware sees it. */
interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
}

/**
 * A client middleware (under the SDK's deserializer, so it sees each attempt's raw answer)
 * that applies checkResponseHead to every operation.
 */
export function responseCheckMiddleware(
  next: (args: unknown) => Promise<{ response: unknown }>,
  context: { commandName?: string },
) {
  const op = (context.commandName ?? '').replace(/Command$/, '');
  return async (args: unknown) => {
    const out = await next(args);
    const r = out.response as RawResponse | undefined;
    if (r && typeof r.statusCode === 'number')
      checkResponseHead(op, r.statusCode, lowerCase(r.headers ?? {}));
    return out;
  };
}

function lowerCase(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}
