// ListObjectsV2 bodies read by s3mount's parser (list-xml.ts) instead of the SDK's: a
// middleware under the SDK's deserializer, inside its retries. The SDK's XML
// deserialization costs more CPU than the server's answer takes (30 ms per 1,000 keys).
import { Readable } from 'node:stream';
import { parseListPage } from './list-xml.js';
import type { RawHandler } from './middleware.js';
import { invalidResponse } from './response-check.js';
import type { ListPage } from './store.js';

/**
 * A 2xx body is parsed here and the SDK handed an empty one; `onPage` gets the page, or
 * undefined when the parser did not fully understand the body, which then goes on to the
 * SDK as it came. Errors are not touched; an answer that is neither a listing nor an S3
 * error fails as not S3.
 */
export function fastListMiddleware(prefix: string, onPage: (page: ListPage | undefined) => void) {
  return (next: RawHandler): RawHandler =>
    async (args) => {
      onPage(undefined); // a retried attempt starts over
      const out = await next(args);
      const response = out.response as { statusCode: number; body: unknown };
      if (response.statusCode < 200 || response.statusCode >= 300 || !(response.body instanceof Readable))
        return out;
      const body = await readAll(response.body);
      const text = body.toString('utf8');
      const page = parseListPage(text);
      // an <Error> in a 200 goes on to the SDK, which raises it as the error it is
      if (!page && !/<(ListBucketResult|Error)[\s>]/.test(text))
        throw invalidResponse(
          'ListObjectsV2',
          `HTTP ${response.statusCode} without a ListBucketResult`,
          prefix,
        );
      onPage(page);
      response.body = Readable.from(page ? [] : [body]);
      return out;
    };
}

/** A whole response body. */
async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array | string));
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}
