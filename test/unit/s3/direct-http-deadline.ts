// DirectHttp's first-byte and idle deadline (responseIdleMs): a server that never answers,
// or stops in the middle of a body, fails the request with ETIMEDOUT after that long of
// silence (the SDK then retries it, or the reader fetches the missing blocks again); a
// slow but steady body is not cut; a pooled socket keeps its own idle time between requests.
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { DirectHttp, type BodyDest, type DirectRequest } from '../../../src/s3/direct-http.js';

async function serve(onRequest: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        onRequest(s);
      }
    });
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { server, port: (server.address() as { port: number }).port };
}

const request = (port: number): DirectRequest => ({
  method: 'GET',
  host: '127.0.0.1',
  port,
  target: '/b/k',
  headers: { host: `127.0.0.1:${port}` },
});

function dest(size: number): BodyDest & { got: number } {
  const buf = Buffer.alloc(size);
  const d = {
    got: 0,
    space: () => buf.subarray(d.got),
    filled: (n: number) => {
      d.got += n;
    },
  };
  return d;
}

const head = (n: number) => `HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`;

t.test('no answer at all: ETIMEDOUT after the idle deadline', async (t) => {
  const { port } = await serve(() => undefined);
  const http = new DirectHttp({ connectTimeoutMs: 1000, maxIdle: 2, responseIdleMs: 300 });
  t.teardown(() => http.destroy());
  const t0 = Date.now();
  await t.rejects(http.request(request(port), dest(10), 10, new AbortController().signal), {
    code: 'ETIMEDOUT',
  });
  const ms = Date.now() - t0;
  t.ok(ms >= 250 && ms < 3000, `after about 300 ms (${ms})`);
});

t.test('a body that stops half-way: ETIMEDOUT, the bytes before it delivered', async (t) => {
  const { port } = await serve((s) => s.write(head(1000) + 'x'.repeat(400)));
  const http = new DirectHttp({ connectTimeoutMs: 1000, maxIdle: 2, responseIdleMs: 300 });
  t.teardown(() => http.destroy());
  const d = dest(1000);
  await t.rejects(http.request(request(port), d, 1000, new AbortController().signal), { code: 'ETIMEDOUT' });
  t.equal(d.got, 400, 'what came before the silence was handed out');
});

t.test('a slow but steady body is not cut; the socket is reused afterwards', async (t) => {
  let connections = 0;
  const { server, port } = await serve((s) => {
    s.write(head(10));
    let sent = 0;
    const timer = setInterval(() => {
      s.write('y');
      if (++sent === 10) clearInterval(timer);
    }, 100); // 1 s in all, never 300 ms silent
  });
  server.on('connection', () => connections++);
  const http = new DirectHttp({ connectTimeoutMs: 1000, maxIdle: 2, responseIdleMs: 300, idleMs: 5000 });
  t.teardown(() => http.destroy());
  const d = dest(10);
  await http.request(request(port), d, 10, new AbortController().signal);
  t.equal(d.got, 10, 'whole body');
  await new Promise((r) => setTimeout(r, 500)); // longer than responseIdleMs, shorter than idleMs
  const d2 = dest(10);
  await http.request(request(port), d2, 10, new AbortController().signal);
  t.equal(d2.got, 10);
  t.equal(connections, 1, 'the idle pooled socket was kept (its own idle time) and reused');
});
