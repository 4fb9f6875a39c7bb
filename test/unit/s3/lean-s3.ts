// LeanS3 through SdkObjectStore (a mount's store: http, path-style, a retry strategy): PUTs
// arrive as the SDK would send them, and failures are retried, refreshed, corrected and
// classified as on the SDK path. The server is a local HTTP server whose answers each test
// scripts; the real servers (s3rver, Ceph RGW) see these requests in every FUSE test.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RefreshingCredentials } from '../../../src/s3/credential-refresh.js';
import type { Credentials } from '../../../src/s3/credentials.js';
import { AdaptiveRateLimiter } from '../../../src/s3/rate.js';
import { S3RetryStrategy } from '../../../src/s3/retry.js';
import { SdkObjectStore } from '../../../src/s3/sdk-store.js';
import { systemClock } from '../../../src/util/clock.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}
type Answer = (req: Seen, res: ServerResponse) => void;

const ok: Answer = (_req, res) => void res.writeHead(200, { ETag: '"e1"', 'Content-Length': 0 }).end();
const xmlError =
  (status: number, code: string, extra: Record<string, string> = {}): Answer =>
  (_req, res) => {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m &amp; m</Message></Error>`;
    res.writeHead(status, {
      'Content-Type': 'application/xml',
      'Content-Length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(body);
  };

async function setup(t: Test, o: { keys?: () => Credentials; deadlineMs?: number } = {}) {
  const seen: Seen[] = [];
  const script: Answer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(s);
      (script.shift() ?? ok)(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  let loads = 0;
  const retry = new S3RetryStrategy({
    limiter: new AdaptiveRateLimiter(systemClock),
    clock: systemClock,
    random: () => 0,
  });
  const store = new SdkObjectStore({
    bucket: 'bkt',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    pathStyle: true,
    credentials: new RefreshingCredentials(
      {
        describe: 'test keys',
        load: () => {
          loads++;
          return Promise.resolve((o.keys ?? (() => ({ accessKeyId: 'AK1', secretAccessKey: 'S1' })))());
        },
      },
      () => undefined,
      Date.now,
      () => Promise.resolve(),
    ),
    requestDeadlineMs: o.deadlineMs ?? 20_000,
    connectTimeoutMs: 1000,
    maxSockets: 4,
    retry,
  });
  t.teardown(async () => {
    store.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { store, seen, script, retry, port, loads: () => loads };
}

t.test('a PUT of a body in memory: what arrives, and the answer read', async (t) => {
  const { store, seen, script, port } = await setup(t);
  const body = Buffer.from('hello, world\n');
  script.push((_req, res) =>
    res
      .writeHead(200, { ETag: '"abc"', 'x-amz-server-side-encryption': 'aws:kms', 'Content-Length': 0 })
      .end(),
  );
  const r = await store.put({
    key: 'dir/a b+c.txt',
    body,
    contentLength: body.length,
    metadata: { mode: '33188' },
  });
  t.same(r, { etag: 'abc', etagNotMd5: true }, 'ETag unquoted; SSE-KMS says it is not an MD5');
  const s = seen[0] as Seen;
  t.equal(s.method, 'PUT');
  t.equal(s.url, '/bkt/dir/a%20b%2Bc.txt', 'path-style, the key escaped as the SDK does');
  t.ok(s.body.equals(body), 'the body, byte for byte');
  t.equal(s.headers['content-md5'], createHash('md5').update(body).digest('base64'));
  t.equal(s.headers['x-amz-content-sha256'], createHash('sha256').update(body).digest('hex'));
  t.equal(s.headers['content-type'], 'text/plain', "Content-Type from the key's extension");
  t.equal(s.headers['x-amz-meta-mode'], '33188');
  t.equal(s.headers.host, `127.0.0.1:${port}`);
  t.match(
    s.headers.authorization,
    /^AWS4-HMAC-SHA256 Credential=AK1\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=content-length;content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-mode, Signature=[0-9a-f]{64}$/,
  );
  t.equal(s.headers['x-amz-user-agent'], undefined, 'not sent by the SDK');
  t.equal(store.requestCounts.PutObject, 1);

  // what LeanS3 leaves to the SDK: a stream, and metadata that is not plain ASCII
  const { Readable } = await import('node:stream');
  await store.put({ key: 'stream', body: Readable.from([body]), contentLength: body.length });
  await store.put({ key: 'utf8', body, contentLength: body.length, metadata: { note: 'café' } });
  t.ok(seen[1]?.headers['x-amz-user-agent'] && seen[2]?.headers['x-amz-user-agent'], 'both sent by the SDK');
});

t.test('an answer that is not a stored object fails: no ETag, a web page', async (t) => {
  const { store, script } = await setup(t);
  const body = Buffer.from('x');
  script.push((_req, res) => void res.writeHead(200, { 'Content-Length': 0 }).end());
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'InvalidResponse',
  });
  script.push(
    (_req, res) =>
      void res.writeHead(200, { ETag: '"e"', 'Content-Type': 'text/html', 'Content-Length': 5 }).end('<html'),
  );
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'InvalidResponse',
  });
});

t.test('retries: throttling and 5xx are sent again', async (t) => {
  const { store, seen, script, retry } = await setup(t);
  const body = Buffer.from('x');
  script.push(xmlError(503, 'SlowDown'), xmlError(500, 'InternalError'));
  t.same(await store.put({ key: 'k', body, contentLength: 1 }), { etag: 'e1' }, 'third attempt stored it');
  t.equal(seen.length, 3);
  t.equal(retry.counters.throttled, 1, 'the 503 counted as throttling');
  t.equal(retry.counters.retries, 2);
  t.equal(store.requestCounts.PutObject, 1, 'one call, counted once');
});

t.test('retries end after four attempts; 4xx are not retried; S3 codes classified', async (t) => {
  // a store of its own: the throttling above slowed its pace
  const { store, seen, script } = await setup(t);
  const body = Buffer.from('x');
  script.push(...Array.from({ length: 5 }, () => xmlError(500, 'InternalError')));
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'Other',
    detail: { code: 'InternalError', status: 500 },
  });
  t.equal(seen.length, 4, 'four attempts, then the error');
  script.length = 0;
  seen.length = 0;
  script.push(xmlError(403, 'AccessDenied'));
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'AccessDenied',
  });
  script.push(xmlError(400, 'InvalidArgument'));
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'InvalidRequest',
  });
  script.push(xmlError(400, 'BadDigest'));
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'Other',
    detail: { code: 'BadDigest' },
  });
  script.push(xmlError(404, 'NoSuchBucket'));
  await t.rejects(store.put({ key: 'k', body, contentLength: 1 }), {
    name: 'StoreError',
    kind: 'NoSuchBucket',
  });
  t.equal(seen.length, 4, 'none of those retried');
  t.same(store.errorCounts.PutObject, { Other: 2, AccessDenied: 1, InvalidRequest: 1, NoSuchBucket: 1 });
  script.push((_req, res) => void res.writeHead(404, { 'Content-Length': 0 }).end());
  const dest = { space: () => Buffer.alloc(10), filled: () => undefined };
  await t.rejects(
    store.readInto({ key: 'gone', start: 0, end: 10 }, dest),
    { name: 'StoreError', kind: 'NotFound' },
    'a 404 without a body',
  );
});

t.test('keys the server rejects are loaded again, and the request is signed with the new ones', async (t) => {
  let n = 0;
  const { store, seen, script, loads } = await setup(t, {
    keys: () => ({ accessKeyId: `AK${++n}`, secretAccessKey: `S${n}` }),
  });
  script.push(xmlError(403, 'InvalidAccessKeyId'));
  const body = Buffer.from('x');
  t.same(await store.put({ key: 'k', body, contentLength: 1 }), { etag: 'e1' });
  t.equal(loads(), 2, 'the source was asked again');
  t.match(seen[0]?.headers.authorization, /Credential=AK1\//);
  t.match(seen[1]?.headers.authorization, /Credential=AK2\//, 'the retry signed with the new keys');
});

t.test(
  'a clock the server says is skewed is corrected from its Date, and the request sent again',
  async (t) => {
    const { store, seen, script } = await setup(t);
    const serverTime = Date.now() + 3_600_000;
    script.push(xmlError(403, 'RequestTimeTooSkewed', { Date: new Date(serverTime).toUTCString() }));
    t.same(await store.put({ key: 'k', body: Buffer.from('x'), contentLength: 1 }), { etag: 'e1' });
    const stamp = (s: Seen | undefined) => {
      const d = String(s?.headers['x-amz-date']);
      return Date.parse(
        `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`,
      );
    };
    t.ok(Math.abs(stamp(seen[1]) - serverTime) < 10_000, 'the second attempt carries the server’s time');
    t.ok(Math.abs(stamp(seen[0]) - Date.now()) < 10_000, 'the first carried ours');
  },
);

t.test('the call’s deadline ends a request the server never answers', async (t) => {
  const { store, script } = await setup(t, { deadlineMs: 2000 });
  script.push(() => undefined); // never answers
  const started = Date.now();
  await t.rejects(store.put({ key: 'k', body: Buffer.from('x'), contentLength: 1 }), {
    name: 'StoreError',
    kind: 'Timeout',
  });
  const took = Date.now() - started;
  t.ok(took >= 1900 && took < 5000, `ended at the 2 s deadline (${took} ms)`);
});
