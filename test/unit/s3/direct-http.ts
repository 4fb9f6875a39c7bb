// DirectHttp against a real TCP server on loopback that answers with hand-written HTTP
// responses: framing (Content-Length, chunked, until close), keep-alive reuse, a socket
// the server closed while idle, failures mid-body, aborts. The S3 side of it (signing,
// errors, ETags) runs in every FUSE test, whose block fills go through it.
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import {
  DirectHttp,
  decodeChunked,
  copyInto,
  type BodyDest,
  type DirectRequest,
} from '../../../src/s3/direct-http.js';

interface Served {
  server: Server;
  port: number;
  connections: number;
  requests: string[];
  sockets: Set<Socket>;
}

/** A server that answers each request head with `answer(requestIndex, socket)`. */
async function serve(answer: (i: number, s: Socket) => void): Promise<Served> {
  const st: Served = { server: createServer(), port: 0, connections: 0, requests: [], sockets: new Set() };
  st.server.on('connection', (s) => {
    st.connections++;
    st.sockets.add(s);
    s.on('close', () => st.sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        st.requests.push(buf.slice(0, end));
        buf = buf.slice(end + 4);
        answer(st.requests.length - 1, s);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => st.server.listen(0, '127.0.0.1', r));
  st.port = (st.server.address() as { port: number }).port;
  return st;
}

async function close(st: Served): Promise<void> {
  for (const s of st.sockets) s.destroy();
  await new Promise<void>((r) => st.server.close(() => r()));
}

function req(port: number, headers: Record<string, string> = {}): DirectRequest {
  return {
    method: 'GET',
    host: '127.0.0.1',
    port,
    target: '/bucket/key?x-id=GetObject',
    headers: { host: `127.0.0.1:${port}`, ...headers },
  };
}

/** A dest of `blocks` buffers of `size` bytes, handed out in small spaces. */
function blocksDest(
  blocks: number,
  size: number,
  spaceMax = size,
): BodyDest & { bufs: Buffer[]; got: number } {
  const bufs = Array.from({ length: blocks }, () => Buffer.alloc(size));
  const d = {
    bufs,
    got: 0,
    space: () => {
      const b = bufs[Math.floor(d.got / size)] as Buffer;
      const at = d.got % size;
      return b.subarray(at, Math.min(size, at + spaceMax));
    },
    filled: (n: number) => {
      d.got += n;
    },
  };
  return d;
}

const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
const ok = (b: Buffer) =>
  `HTTP/1.1 206 Partial Content\r\nContent-Length: ${b.length}\r\nETag: "abc"\r\n\r\n`;

t.test('a 2xx body lands in the dest, across blocks, and the socket is reused', async (t) => {
  const st = await serve((_i, s) => {
    // head and the first bytes in one write, the rest in pieces
    s.write(Buffer.concat([Buffer.from(ok(body)), body.subarray(0, 100)]));
    setTimeout(() => s.write(body.subarray(100, 5000)), 5);
    setTimeout(() => s.write(body.subarray(5000)), 10);
  });
  t.teardown(() => close(st));
  const http = new DirectHttp({ connectTimeoutMs: 2000, maxIdle: 4 });
  t.teardown(() => http.destroy());
  for (let round = 0; round < 3; round++) {
    const d = blocksDest(10, 1000, 300);
    let head: Record<string, string> | undefined;
    const r = await http.request(
      req(st.port),
      d,
      body.length,
      AbortSignal.timeout(5000),
      (h) => (head = h.headers),
    );
    t.equal(r.statusCode, 206);
    t.equal(head?.etag, '"abc"', 'onHead saw the headers');
    t.equal(r.body.length, 0, 'no body returned: it went to the dest');
    t.ok(Buffer.concat(d.bufs).equals(body), `round ${round}: bytes exact`);
  }
  t.equal(st.connections, 1, 'one keep-alive connection for three requests');
  t.match(st.requests[0], /^GET \/bucket\/key\?x-id=GetObject HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+/);
});

t.test('error responses come back whole: Content-Length, chunked, until close', async (t) => {
  const xml = '<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>';
  const chunkedBody = `${(20).toString(16)}\r\n${xml.slice(0, 20)}\r\n${(xml.length - 20).toString(16)};ext=1\r\n${xml.slice(20)}\r\n0\r\n\r\n`;
  const st = await serve((i, s) => {
    if (i === 0) s.write(`HTTP/1.1 404 Not Found\r\nContent-Length: ${xml.length}\r\n\r\n${xml}`);
    if (i === 1) {
      s.write(`HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody.slice(0, 30)}`);
      setTimeout(() => s.write(chunkedBody.slice(30)), 5);
    }
    if (i === 2) s.end(`HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n${xml}`);
  });
  t.teardown(() => close(st));
  const http = new DirectHttp({ connectTimeoutMs: 2000, maxIdle: 4 });
  t.teardown(() => http.destroy());
  for (const status of [404, 404, 500]) {
    const d = blocksDest(1, 100);
    const r = await http.request(req(st.port), d, 100, AbortSignal.timeout(5000));
    t.equal(r.statusCode, status);
    t.equal(r.body.toString(), xml, `${status}: body returned`);
    t.equal(d.got, 0, 'nothing went to the dest');
  }
});

t.test('a socket the server closed while idle is replaced without failing the request', async (t) => {
  const st = await serve((i, s) => {
    s.write(Buffer.concat([Buffer.from(ok(body)), body]));
    if (i === 0) setTimeout(() => s.destroy(), 5);
  });
  t.teardown(() => close(st));
  const http = new DirectHttp({ connectTimeoutMs: 2000, maxIdle: 4 });
  t.teardown(() => http.destroy());
  await http.request(req(st.port), blocksDest(1, body.length), body.length, AbortSignal.timeout(5000));
  await new Promise((r) => setTimeout(r, 50));
  const d = blocksDest(1, body.length);
  await http.request(req(st.port), d, body.length, AbortSignal.timeout(5000));
  t.ok((d.bufs[0] as Buffer).equals(body), 'second request answered');
  t.equal(st.connections, 2, 'on a new connection');
});

t.test('failures: closed mid-body, wrong length, onHead rejecting, abort, refused, bad header', async (t) => {
  const st = await serve((i, s) => {
    if (i === 0) s.end(Buffer.concat([Buffer.from(ok(body)), body.subarray(0, 500)]));
    if (i === 1) s.write(ok(body.subarray(0, 10)) + '0123456789');
    if (i === 2) s.write(Buffer.concat([Buffer.from(ok(body)), body]));
    // i === 3: never answers
  });
  t.teardown(() => close(st));
  const http = new DirectHttp({ connectTimeoutMs: 2000, maxIdle: 4 });
  t.teardown(() => http.destroy());

  const d0 = blocksDest(1, body.length);
  await t.rejects(
    http.request(req(st.port), d0, body.length, AbortSignal.timeout(5000)),
    { code: 'ECONNRESET' },
    'closed mid-body',
  );
  t.equal(d0.got, 500, 'the bytes that came were handed out');

  await t.rejects(
    http.request(req(st.port), blocksDest(1, 100), 100, AbortSignal.timeout(5000)),
    /expected 100/,
    'Content-Length not the range asked',
  );

  const d2 = blocksDest(1, body.length);
  await t.rejects(
    http.request(req(st.port), d2, body.length, AbortSignal.timeout(5000), () => {
      throw new Error('etag changed');
    }),
    /etag changed/,
  );
  t.equal(d2.got, 0, 'onHead rejected before any body byte');

  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  await t.rejects(
    http.request(req(st.port), blocksDest(1, 10), 10, ac.signal),
    { name: 'AbortError' },
    'abort',
  );

  const closed = await serve(() => undefined);
  const port = closed.port;
  await close(closed);
  await t.rejects(
    http.request(req(port), blocksDest(1, 10), 10, AbortSignal.timeout(5000)),
    { code: 'ECONNREFUSED' },
    'refused',
  );

  await t.rejects(
    http.request(
      req(st.port, { 'x-bad': 'a\r\nInjected: 1' }),
      blocksDest(1, 10),
      10,
      AbortSignal.timeout(5000),
    ),
    /line break/,
  );
});

t.test('decodeChunked and copyInto', async (t) => {
  t.equal(decodeChunked(Buffer.from('3\r\nabc\r\n0\r\n')), undefined, 'incomplete without the last line');
  t.equal(decodeChunked(Buffer.from('3\r\nabc\r\n0\r\n\r\n'))?.toString(), 'abc');
  t.equal(decodeChunked(Buffer.from('3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n'))?.toString(), 'abc', 'trailers');
  t.equal(decodeChunked(Buffer.from('5\r\nab')), undefined);
  t.throws(() => decodeChunked(Buffer.from('zz\r\n')), /chunk size/);
  const d = blocksDest(3, 4, 3);
  copyInto(d, Buffer.from('0123456789'));
  t.equal(Buffer.concat(d.bufs).toString('latin1', 0, 10), '0123456789');
  t.equal(d.got, 10);
});
