// HttpConn: one keep-alive plain-http connection of DirectHttp's pool (direct-http.ts), one
// request at a time. The socket reads with net's `onread` into a buffer chosen per read: the
// response head into a small scratch buffer, a 2xx body straight into the caller's BodyDest
// (no HTTP parser, body stream or Buffer per chunk); other answers are read whole, capped.
import { connect, type Socket } from 'node:net';

/** Where a response body goes. */
export interface BodyDest {
  /** memory for the next body bytes: non-empty, valid until the following filled() */
  space(): Uint8Array;
  /** `n` bytes were written at the start of the last space() */
  filled(n: number): void;
}

export interface DirectRequest {
  method: string;
  host: string;
  port: number;
  /** request target: path and query string, already encoded */
  target: string;
  headers: Record<string, string>;
  /** a body to send (its Content-Length among the headers) */
  body?: Uint8Array;
}

export interface DirectResponse {
  statusCode: number;
  /** lower-case names */
  headers: Record<string, string>;
  /** the body, when it did not go to the dest */
  body: Buffer;
}

/** What a connection tells its pool. */
export interface ConnPool {
  /** its response ended and it may be reused */
  release(c: HttpConn): void;
  /** its socket closed */
  forget(c: HttpConn): void;
}

/** response heads are a few hundred bytes; S3 error bodies a few hundred more */
const HEAD_MAX = 64 * 1024;
const COLLECT_MAX = 1024 * 1024;

/** Hands `bytes` to `dest`, block by block. */
export function copyInto(dest: BodyDest, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) {
    const space = dest.space();
    const n = Math.min(space.length, bytes.length - at);
    space.set(bytes.subarray(at, at + n));
    at += n;
    dest.filled(n);
  }
}

export function netError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** what an aborted request throws (the SDK's AbortError); `cause`: the failure it ended */
export function abortError(cause?: unknown): Error {
  const e = new Error('Request aborted', cause === undefined ? undefined : { cause });
  e.name = 'AbortError';
  return e;
}

type State = 'idle' | 'head' | 'dest' | 'collect';

/** One keep-alive connection: one request at a time, its response read in place. */
export class HttpConn {
  readonly socket: Socket;
  /** responses fully read on this socket */
  served = 0;
  /** a byte of the current response has arrived */
  answered = false;
  private state: State = 'idle';
  private readonly scratch = Buffer.allocUnsafe(HEAD_MAX);
  private headLen = 0;
  private response: DirectResponse | undefined;
  private keepAlive = true;
  private dest: BodyDest | undefined;
  private expect = 0;
  /** body bytes still to come (dest or collect with a length); -1: until close */
  private remaining = 0;
  private chunked = false;
  private collected: Buffer[] = [];
  private collectedBytes = 0;
  private pending: { resolve(r: DirectResponse): void; reject(e: Error): void } | undefined;
  private onHead: ((r: DirectResponse) => void) | undefined;

  constructor(
    private readonly pool: ConnPool,
    readonly hostKey: string,
    host: string,
    port: number,
    private readonly idleMs: number,
    private readonly responseIdleMs: number,
  ) {
    this.socket = connect({
      host,
      port,
      onread: {
        buffer: () => this.nextBuffer(),
        callback: (n: number, buf: Uint8Array) => this.onRead(n, buf),
      },
    });
    this.socket.setNoDelay(true);
    // one timer per socket: the pool's idle time between requests, the response's while one runs
    this.socket.setTimeout(idleMs);
    this.socket.on('timeout', () => {
      if (this.state === 'idle') this.socket.destroy();
      else this.fail(netError(`no answer from the server for ${this.responseIdleMs} ms`, 'ETIMEDOUT'));
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => {
      this.pool.forget(this);
      this.fail(netError('connection closed before the response ended', 'ECONNRESET'));
    });
  }

  /** `dest` undefined: a 2xx body is read whole (capped), like an error's */
  exchange(
    req: DirectRequest,
    dest: BodyDest | undefined,
    expect: number,
    signal: AbortSignal,
    onHead?: (r: DirectResponse) => void,
  ): Promise<DirectResponse> {
    return new Promise((resolve, reject) => {
      const onAbort = () => this.fail(abortError());
      const settle = () => signal.removeEventListener('abort', onAbort);
      this.pending = {
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      };
      this.state = 'head';
      this.socket.setTimeout(this.responseIdleMs);
      this.headLen = 0;
      this.answered = false;
      this.dest = dest;
      this.expect = expect;
      this.onHead = onHead;
      signal.addEventListener('abort', onAbort, { once: true });
      let head = `${req.method} ${req.target} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(req.headers)) {
        if (/[\r\n]/.test(k + v)) return this.fail(new Error(`line break in request header ${k}`));
        head += `${k}: ${v}\r\n`;
      }
      if (!req.body || req.body.length === 0) return void this.socket.write(head + '\r\n');
      this.socket.cork();
      this.socket.write(head + '\r\n');
      this.socket.write(req.body);
      this.socket.uncork();
    });
  }

  /** the memory the socket reads into next */
  private nextBuffer(): Uint8Array {
    if (this.state === 'dest' && this.dest) {
      try {
        const space = this.dest.space();
        return space.length > this.remaining ? space.subarray(0, this.remaining) : space;
      } catch (err) {
        this.fail(err as Error);
      }
    }
    if (this.state === 'head') return this.scratch.subarray(this.headLen);
    return this.scratch;
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    try {
      this.answered = true;
      switch (this.state) {
        case 'idle':
          throw new Error('unexpected bytes on an idle connection');
        case 'head': {
          if (buf.byteOffset !== this.scratch.byteOffset + this.headLen)
            this.scratch.set(buf.subarray(0, n), this.headLen);
          const from = Math.max(0, this.headLen - 3);
          this.headLen += n;
          const end = this.scratch.subarray(0, this.headLen).indexOf('\r\n\r\n', from, 'latin1');
          if (end >= 0) this.onHeadEnd(end);
          else if (this.headLen === HEAD_MAX) throw new Error('response head too large');
          break;
        }
        case 'dest':
          (this.dest as BodyDest).filled(n);
          this.remaining -= n;
          if (this.remaining === 0) this.finish();
          break;
        case 'collect':
          this.collect(Buffer.from(buf.subarray(0, n)));
          break;
      }
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
    return true;
  }

  private onHeadEnd(end: number): void {
    const lines = this.scratch.toString('latin1', 0, end).split('\r\n');
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
    if (!status) throw new Error(`not an HTTP/1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const statusCode = Number(status[2]);
    const connection = (headers.connection ?? '').toLowerCase();
    this.keepAlive = status[1] === '1' ? connection !== 'close' : connection === 'keep-alive';
    this.response = { statusCode, headers, body: Buffer.alloc(0) };
    const rest = Buffer.from(this.scratch.subarray(end + 4, this.headLen));
    const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
    this.chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');

    if (statusCode >= 200 && statusCode < 300) this.onHead?.(this.response);
    if (statusCode >= 200 && statusCode < 300 && this.dest) {
      if (this.chunked || length !== this.expect)
        throw new Error(`response body of ${length ?? 'unknown'} bytes, expected ${this.expect}`);
      this.state = 'dest';
      this.remaining = length;
      if (rest.length > this.remaining) throw new Error('bytes after the response body');
      if (rest.length > 0) {
        copyInto(this.dest as BodyDest, rest);
        this.remaining -= rest.length;
      }
      if (this.remaining === 0) this.finish();
      return;
    }
    // anything else (an S3 error, 304, a 2xx without a dest): its body is small and read whole
    this.state = 'collect';
    this.remaining =
      statusCode === 204 || statusCode === 304 || (statusCode >= 100 && statusCode < 200)
        ? 0
        : (length ?? (this.chunked ? 0 : -1));
    this.collected = [];
    this.collectedBytes = 0;
    if (rest.length > 0 || this.remaining === 0) this.collect(rest);
  }

  private collect(bytes: Buffer): void {
    this.collected.push(bytes);
    this.collectedBytes += bytes.length;
    if (this.collectedBytes > COLLECT_MAX) throw new Error('error response body too large');
    const all = Buffer.concat(this.collected);
    if (this.chunked) {
      const body = decodeChunked(all);
      if (body) this.finishWith(body);
    } else if (this.remaining >= 0 && all.length >= this.remaining) {
      if (all.length > this.remaining) throw new Error('bytes after the response body');
      this.finishWith(all);
    }
  }

  private finishWith(body: Buffer): void {
    (this.response as DirectResponse).body = body;
    this.finish();
  }

  private onEnd(): void {
    // a body delimited by the connection's end
    if (this.state === 'collect' && this.remaining === -1 && !this.chunked) {
      this.keepAlive = false;
      this.finishWith(Buffer.concat(this.collected));
    } else this.fail(netError('connection closed before the response ended', 'ECONNRESET'));
  }

  private finish(): void {
    const p = this.pending;
    const r = this.response as DirectResponse;
    this.pending = undefined;
    this.state = 'idle';
    this.socket.setTimeout(this.idleMs);
    this.dest = undefined;
    this.onHead = undefined;
    this.response = undefined;
    this.collected = [];
    this.served++;
    if (this.keepAlive) this.pool.release(this);
    else this.socket.destroy();
    p?.resolve(r);
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    this.state = 'idle';
    this.dest = undefined;
    this.socket.destroy();
    p?.reject(err);
  }
}

/** The body of a complete chunked encoding, or undefined while it is incomplete. */
export function decodeChunked(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const size = parseInt(data.toString('latin1', at, eol).split(';')[0] as string, 16);
    if (!Number.isFinite(size) || size < 0) throw new Error('bad chunk size');
    at = eol + 2;
    if (size === 0) {
      // trailers, then an empty line
      const endOfTrailers = data.indexOf('\r\n\r\n', at - 2, 'latin1');
      return endOfTrailers < 0 ? undefined : Buffer.concat(parts);
    }
    if (data.length < at + size + 2) return undefined;
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
}
