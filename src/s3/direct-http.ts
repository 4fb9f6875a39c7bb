// DirectHttp: plain-http requests whose response body lands straight in memory the
// caller hands out (for the block cache: its arena slots): a pool of keep-alive
// connections (http-conn.ts reads each response in place). No HTTP parser, body stream,
// Buffer per chunk or copy on the JavaScript thread, which were most of its work per byte.
//
// It is only a transport for requests signed elsewhere: by LeanS3 (lean-s3.ts: small PUTs
// and block fills over plain http), or by the SDK, whose request a middleware placed
// after signing sends here (range-get.ts). A response other than 2xx with the expected
// Content-Length is read whole (capped) and returned.
import {
  abortError,
  HttpConn,
  netError,
  type BodyDest,
  type DirectRequest,
  type ConnPool,
  type DirectResponse,
} from './http-conn.js';

export {
  abortError,
  copyInto,
  decodeChunked,
  type BodyDest,
  type DirectRequest,
  type DirectResponse,
} from './http-conn.js';

export interface DirectOptions {
  connectTimeoutMs: number;
  /** idle sockets kept per host */
  maxIdle: number;
  /** an idle socket is closed after this long */
  idleMs?: number;
  /**
   * a request whose connection is silent this long (no answer yet, or its body stalled)
   * fails with ETIMEDOUT: the first-byte and idle deadlines (default: none)
   */
  responseIdleMs?: number;
}

export class DirectHttp implements ConnPool {
  private readonly idle = new Map<string, HttpConn[]>();
  private closed = false;

  constructor(private readonly o: DirectOptions) {}

  /**
   * Sends `req` and reads its response. A 2xx response with `expect` bytes of body goes
   * to `dest` (without one, it is read whole, capped, as errors are); `onHead` may reject the response (throw) before any body byte is taken.
   * A reused socket the server had closed is replaced once, transparently.
   */
  async request(
    req: DirectRequest,
    dest: BodyDest | undefined,
    expect: number,
    signal: AbortSignal,
    onHead?: (r: DirectResponse) => void,
  ): Promise<DirectResponse> {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw abortError();
      const hostKey = `${req.host}:${req.port}`;
      const conn = this.takeIdle(hostKey) ?? (await this.open(req, hostKey, signal));
      const reused = conn.served > 0;
      try {
        return await conn.exchange(req, dest, expect, signal, onHead);
      } catch (err) {
        if (reused && attempt === 0 && !conn.answered && !signal.aborted) continue;
        throw err;
      }
    }
  }

  /** Closes every socket; requests under way fail. */
  destroy(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of list) c.socket.destroy();
    this.idle.clear();
  }

  private takeIdle(hostKey: string): HttpConn | undefined {
    const list = this.idle.get(hostKey);
    const c = list?.pop();
    if (c) c.socket.ref();
    return c;
  }

  /** a connection whose response ended and which may be reused (ConnPool) */
  release(c: HttpConn): void {
    const list = this.idle.get(c.hostKey) ?? [];
    if (this.closed || list.length >= this.o.maxIdle) {
      c.socket.destroy();
      return;
    }
    c.socket.unref();
    list.push(c);
    this.idle.set(c.hostKey, list);
  }

  /** a connection whose socket closed (ConnPool) */
  forget(c: HttpConn): void {
    const list = this.idle.get(c.hostKey);
    const i = list ? list.indexOf(c) : -1;
    if (list && i >= 0) list.splice(i, 1);
  }

  private open(req: DirectRequest, hostKey: string, signal: AbortSignal): Promise<HttpConn> {
    return new Promise((resolve, reject) => {
      const c = new HttpConn(
        this,
        hostKey,
        req.host,
        req.port,
        this.o.idleMs ?? 10_000,
        this.o.responseIdleMs ?? 0,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        c.socket.removeListener('connect', onConnect);
        c.socket.removeListener('error', done);
        if (err) {
          c.socket.destroy();
          reject(err);
        } else resolve(c);
      };
      const onConnect = () => done();
      const onAbort = () => done(abortError());
      const timer = setTimeout(
        () => done(netError(`connect timed out after ${this.o.connectTimeoutMs} ms`, 'ETIMEDOUT')),
        this.o.connectTimeoutMs,
      );
      c.socket.once('connect', onConnect);
      c.socket.once('error', done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
