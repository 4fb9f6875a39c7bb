// Ranged GETs: the middleware that reads a GetObject's body straight into the caller's
// memory (over plain http on DirectHttp, over https copied from the SDK's handler), and
// the checks that every byte handed out is the asked range of the pinned version.
import { finished, Readable } from 'node:stream';
import { copyInto, type BodyDest, type DirectHttp, type DirectRequest } from './direct-http.js';
import { classifyError, StoreError } from './errors.js';
import { normalizeEtag } from './xml-values.js';
import type { RawHandler } from './middleware.js';
import { checkRangeHead, invalidResponse, type RangeExpectation } from './response-check.js';
import type { RangeRequest } from './store.js';

export function rangeExpectation(req: RangeRequest): RangeExpectation {
  return {
    key: req.key,
    start: req.start,
    end: req.end,
    ...(req.etag ? { etag: req.etag } : {}),
    ...(req.objectSize !== undefined ? { objectSize: req.objectSize } : {}),
  };
}

/**
 * The middleware (under the SDK's deserializer, inside its retries, after signing) that
 * sends a signed ranged GetObject and reads its body into `dest`: on DirectHttp over
 * plain http, else through the SDK's own handler with the body copied in. The SDK then
 * deserializes a response with an empty body. The answer's head is checked (range,
 * length, ETag) before any body byte is used.
 *
 * Bytes handed out cannot be taken back, and a retried attempt's body would be written
 * after them from the range's first byte again (wrong bytes at the wrong offset). So a
 * failure after the first body byte ends the call, without the SDK's retries: it goes up
 * with no `cause`, which the SDK's retry decision looks into (ECONNRESET is transient to
 * it). The caller asks again for exactly the blocks still missing (ObjectReader.refetch).
 */
export function directGet(
  direct: DirectHttp,
  req: RangeRequest,
  dest: BodyDest,
  signal: AbortSignal,
): { middleware: (next: RawHandler) => RawHandler; delivered(): number } {
  const expect = req.end - req.start;
  const want = rangeExpectation(req);
  const { counted, delivered, final } = countingDest(dest, req.key, expect);
  const middleware =
    (next: RawHandler): RawHandler =>
    async (args) => {
      if (delivered() > 0)
        throw new StoreError(
          'Other',
          `GetObject retried after ${delivered()} of ${expect} bytes had been handed out`,
          { key: req.key, op: 'GetObject' },
        );
      const request = args.request as SignedRequest;
      try {
        if (request.protocol === 'http:') {
          const r = await direct.request(directRequest(request), counted, expect, signal, (head) =>
            checkRangeHead(want, head.statusCode, head.headers, normalizeEtag),
          );
          return {
            response: {
              statusCode: r.statusCode,
              reason: '',
              headers: r.headers,
              body: Readable.from(r.body.length > 0 ? [r.body] : []),
            },
            output: undefined,
          };
        }
        const out = await next(args);
        const response = out.response as {
          statusCode: number;
          headers: Record<string, string>;
          body: Readable;
        };
        if (response.statusCode < 200 || response.statusCode >= 300) return out;
        checkRangeHead(want, response.statusCode, lowerKeys(response.headers), normalizeEtag);
        await pump(response.body, counted);
        return { ...out, response: { ...response, body: Readable.from([]) } };
      } catch (err) {
        if (delivered() > 0) throw final(err);
        throw err;
      }
    };
  return { middleware, delivered };
}

/**
 * `dest`, counting the bytes written into it (handed out: a retry must not write them
 * again), and `final(err)`: a failure of the ranged GET of `key` (`expect` bytes) once
 * some were, as the call's error (classified, with how far it got).
 */
export function countingDest(
  dest: BodyDest,
  key: string,
  expect: number,
): { counted: BodyDest; delivered(): number; final(err: unknown): StoreError } {
  let n = 0;
  return {
    counted: {
      space: () => dest.space(),
      filled: (k) => {
        n += k;
        dest.filled(k);
      },
    },
    delivered: () => n,
    final: (err) => {
      const e = classifyError(err, 'GetObject', key);
      return new StoreError(e.kind, `${e.message}, after ${n} of ${expect} bytes`, e.detail);
    },
  };
}

/** A ranged GET's body as it streams; fails unless it is exactly `expect` bytes. */
export async function* checkedBody(body: Readable, key: string, expect: number): AsyncIterable<Uint8Array> {
  let got = 0;
  try {
    for await (const chunk of body) {
      got += (chunk as Uint8Array).length;
      if (got > expect) throw invalidResponse('GetObject', `more than the ${expect} bytes asked`, key);
      yield chunk as Uint8Array;
    }
  } catch (err) {
    throw classifyError(err, 'GetObject', key);
  } finally {
    body.destroy();
  }
  if (got !== expect) throw invalidResponse('GetObject', `a body of ${got} bytes for ${expect} asked`, key);
}

export function lowerKeys(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = v;
  return out;
}

/** The parts of the SDK's signed HttpRequest that DirectHttp needs. */
interface SignedRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
}

/** The SDK's encoding of query strings (@smithy/querystring-builder), which it signed. */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function directRequest(r: SignedRequest): DirectRequest {
  const parts: string[] = [];
  for (const key of Object.keys(r.query ?? {}).sort()) {
    const value = (r.query ?? {})[key];
    if (Array.isArray(value)) for (const v of value) parts.push(`${escapeUri(key)}=${escapeUri(v)}`);
    else
      parts.push(
        value === null || value === undefined ? escapeUri(key) : `${escapeUri(key)}=${escapeUri(value)}`,
      );
  }
  return {
    method: r.method,
    host: r.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: r.port ?? 80,
    target: r.path + (parts.length > 0 ? `?${parts.join('&')}` : ''),
    headers: r.headers,
  };
}

/** Copies a response body into `dest`. */
function pump(body: Readable, dest: BodyDest): Promise<void> {
  return new Promise((resolve, reject) => {
    body.on('data', (chunk: Uint8Array) => {
      try {
        copyInto(dest, chunk);
      } catch (err) {
        body.destroy(err as Error);
      }
    });
    finished(body, (err) => {
      body.destroy();
      if (err) reject(err);
      else resolve();
    });
  });
}
