// SdkObjectStore.readInto over its three ways: plain http signed and sent by LeanS3 (with
// a retry strategy, as every mount has), plain http built by the SDK and sent on DirectHttp
// (both read the body into the caller's memory), and https (the SDK's own handler, body
// copied in). The
// server is a small local HTTP(S) server answering ranged GETs as S3 does; the S3 side
// against real servers (s3rver, Ceph RGW) runs in every FUSE test, which are all http.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo, Server } from 'node:net';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { AdaptiveRateLimiter } from '../../../src/s3/rate.js';
import { S3RetryStrategy } from '../../../src/s3/retry.js';
import { systemClock } from '../../../src/util/clock.js';
import { fixedCredentials } from '../../fixtures/helpers.js';

const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
const ETAG = 'abc123';

/** the Connection header of each GET: Node's http client sends one, DirectHttp none */
const connectionHeaders: Array<string | undefined> = [];
/** whether each GET came from the SDK (it sends x-amz-user-agent; LeanS3 does not) */
const fromSdk: boolean[] = [];
/** requests by key: attempts the SDK made */
const attempts = new Map<string, number>();

function answer(req: IncomingMessage, res: ServerResponse): void {
  connectionHeaders.push(req.headers.connection);
  fromSdk.push(req.headers['x-amz-user-agent'] !== undefined);
  const key = decodeURIComponent((req.url ?? '').split('?')[0] as string).replace(/^\/bucket\//, '');
  const xmlError = (status: number, code: string) => {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>x</Message></Error>`;
    res
      .writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) })
      .end(body);
  };
  attempts.set(key, (attempts.get(key) ?? 0) + 1);
  if (key === 'missing') return xmlError(404, 'NoSuchKey');
  if (key === 'html') {
    const page = '<html><body>hello</body></html>';
    return void res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': page.length }).end(page);
  }
  const etag = key === 'changed' ? 'other' : ETAG; // 'changed' ignores If-Match, as a lax server might
  if (key !== 'changed' && req.headers['if-match'] && req.headers['if-match'] !== `"${ETAG}"`)
    return xmlError(412, 'PreconditionFailed');
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (!m) return xmlError(400, 'InvalidRequest');
  const body = data.subarray(Number(m[1]), Number(m[2]) + 1);
  // 'shifted' sends the bytes one further on, and says so in Content-Range
  const shown = key === 'shifted' ? `bytes ${Number(m[1]) + 1}-${Number(m[2]) + 1}` : `bytes ${m[1]}-${m[2]}`;
  if (key === 'short') {
    // a server that sends 10 bytes less than the range, and a Content-Length that says so
    const less = body.subarray(0, body.length - 10);
    res.writeHead(206, {
      ETag: `"${etag}"`,
      'Content-Length': less.length,
      'Content-Range': `${shown}/${data.length}`,
    });
    return void res.end(less);
  }
  res.writeHead(206, {
    ETag: `"${etag}"`,
    'Content-Length': body.length,
    'Content-Range': `${shown}/${data.length}`,
    'Last-Modified': new Date().toUTCString(),
  });
  if (key === 'cut') {
    // half the body, then the connection is closed (a load balancer or a busy gateway)
    res.write(body.subarray(0, body.length >> 1));
    return void setTimeout(() => req.socket.destroy(), 20);
  }
  // in pieces, so bodies span reads
  res.write(body.subarray(0, 1000));
  setTimeout(() => res.end(body.subarray(1000)), 2);
}

function dest(length: number) {
  const buf = Buffer.alloc(length);
  let at = 0;
  return {
    buf,
    get at() {
      return at;
    },
    space: () => buf.subarray(at, Math.min(length, at + 65536)),
    filled: (n: number) => {
      at += n;
    },
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'secret-for-tests';
// the https server's certificate is self-signed
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const dir = mkdtempSync(join(tmpdir(), 's3m-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'k.pem'),
    '-out',
    join(dir, 'c.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
  ],
  { stdio: 'ignore' },
);

for (const way of ['lean', 'http', 'https'] as const) {
  const scheme = way === 'https' ? 'https' : 'http';
  t.test(`readInto: ${way}`, async (t) => {
    const server =
      scheme === 'http'
        ? createHttp(answer)
        : createHttps(
            { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) },
            answer,
          );
    const port = await listen(server);
    t.teardown(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    const store = new SdkObjectStore({
      bucket: 'bucket',
      endpoint: `${scheme}://127.0.0.1:${port}`,
      region: 'us-east-1',
      pathStyle: true,
      credentials: fixedCredentials('AKIDTEST', 'secret-for-tests'),
      requestDeadlineMs: 10_000,
      connectTimeoutMs: 2000,
      maxSockets: 4,
      ...(way === 'lean'
        ? {
            retry: new S3RetryStrategy({ limiter: new AdaptiveRateLimiter(systemClock), clock: systemClock }),
          }
        : { maxAttempts: 2 }),
    });
    t.teardown(() => store.destroy());

    for (const [start, end] of [
      [0, 100_000],
      [123, 250_123],
      [299_000, 300_000],
    ] as const) {
      const d = dest(end - start);
      await store.readInto({ key: 'k/a b', start, end, etag: ETAG }, d);
      t.equal(d.at, end - start, `${start}-${end}: every byte handed over`);
      t.ok(d.buf.equals(data.subarray(start, end)), `${start}-${end}: bytes exact`);
    }
    const missing = dest(10);
    await t.rejects(store.readInto({ key: 'missing', start: 0, end: 10 }, missing), {
      name: 'StoreError',
      kind: 'NotFound',
    });
    await t.rejects(
      store.readInto({ key: 'k', start: 0, end: 10, etag: 'stale' }, dest(10)),
      { name: 'StoreError', kind: 'PreconditionFailed' },
      '412 from the server',
    );
    const changed = dest(10);
    await t.rejects(
      store.readInto({ key: 'changed', start: 0, end: 10, etag: ETAG }, changed),
      { name: 'StoreError', kind: 'PreconditionFailed' },
      'ETag checked when the server ignores If-Match',
    );
    t.equal(changed.at, 0, 'no byte of the other version handed out');
    t.equal(store.requestCounts.GetObject, 6, 'one GetObject per call, no retries');
    const sent = connectionHeaders.splice(0);
    t.equal(sent.length, 6);

    // a body cut half-way: the bytes handed out are the right ones, and the SDK does
    // not retry into the same memory (which wrote the range's start after them)
    attempts.delete('cut');
    const cut = dest(100_000);
    await t.rejects(
      store.readInto({ key: 'cut', start: 1000, end: 101_000, etag: ETAG }, cut),
      { name: 'StoreError' },
      'a cut body fails the call',
    );
    t.ok(cut.at > 0 && cut.at < 100_000, `some bytes were handed out (${cut.at})`);
    t.ok(
      cut.buf.subarray(0, cut.at).equals(data.subarray(1000, 1000 + cut.at)),
      'and they are the right ones',
    );
    t.equal(attempts.get('cut'), 1, 'no retry after bytes were handed out');
    const shifted = dest(1000);
    await t.rejects(
      store.readInto({ key: 'shifted', start: 0, end: 1000, etag: ETAG }, shifted),
      { name: 'StoreError', kind: 'InvalidResponse' },
      'Content-Range other than asked',
    );
    t.equal(shifted.at, 0, 'no byte of a wrong range handed out');
    const html = dest(10);
    await t.rejects(
      store.readInto({ key: 'html', start: 0, end: 10 }, html),
      { name: 'StoreError', kind: 'InvalidResponse' },
      'a web page is not a range of an object',
    );
    t.equal(html.at, 0, 'no byte of it handed out');
    const short = dest(1000);
    await t.rejects(
      store.readInto({ key: 'short', start: 0, end: 1000, etag: ETAG }, short),
      { name: 'StoreError', kind: 'InvalidResponse' },
      'a body shorter than the range asked',
    );
    t.equal(short.at, 0, 'no byte of it handed out');
    const sdk = fromSdk.splice(0); // readInto's requests (getRange is always the SDK's)
    // the streaming GET (verify, the copy-in of an open for writing, readlink): never short data
    for (const key of ['short', 'cut']) {
      let got = 0;
      await t.rejects(
        (async () => {
          for await (const c of await store.getRange({ key, start: 0, end: 100_000, etag: ETAG }))
            got += c.length;
        })(),
        { name: 'StoreError' },
        `getRange: a ${key} body is an error, not the end of the data`,
      );
      t.ok(got < 100_000, `getRange ${key}: fewer bytes came (${got})`);
    }
    connectionHeaders.splice(0);
    t.ok(
      sdk.every((s) => s === (way !== 'lean')),
      way === 'lean' ? 'built and signed by LeanS3' : 'built and signed by the SDK',
    );
    if (scheme === 'http')
      t.ok(
        sent.every((c) => c === undefined),
        'sent by DirectHttp',
      );
    else
      t.ok(
        sent.every((c) => c === 'keep-alive'),
        "sent by the SDK's handler",
      );
  });
}
