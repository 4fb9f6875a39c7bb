// ControlServer: the daemon's end of the control channel, a unix socket in the user's state
// directory (0700); reads one request line per connection and answers it (control/protocol.ts).
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.js';
import {
  MAX_REQUEST_BYTES,
  parseRequest,
  type ControlLine,
  type ControlOp,
  type ControlRequest,
  type ControlResults,
  type UploadProgress,
} from './protocol.js';

export type ControlHandlers = {
  [K in ControlOp]: (
    req: Extract<ControlRequest, { op: K }>,
    progress: (p: UploadProgress) => void,
  ) => Promise<ControlResults[K]>;
};

/** How long close() waits for answers still being written before it cuts connections. */
const CLOSE_GRACE_MS = 2000;

export class ControlServer {
  private server?: Server;
  private readonly open = new Set<Socket>();

  constructor(
    private readonly socketPath: string,
    private readonly handlers: ControlHandlers,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<void> {
    const dir = dirname(this.socketPath);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700); // it may have been made earlier with a wider mode
    // a socket left by a daemon that was killed: the mount point is ours now
    await rm(this.socketPath, { force: true });
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.warn('control socket error', { error: err.message }));
    await chmod(this.socketPath, 0o600);
    this.server = server;
  }

  private serve(sock: Socket): void {
    this.open.add(sock);
    sock.on('close', () => this.open.delete(sock));
    sock.on('error', () => undefined); // the client went away: nothing to answer
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_REQUEST_BYTES) this.answer(sock, { ok: false, error: 'request too long' });
        return;
      }
      sock.off('data', onData);
      void this.dispatch(sock, buf.slice(0, nl));
    };
    sock.on('data', onData);
  }

  private async dispatch(sock: Socket, line: string): Promise<void> {
    let req: ControlRequest;
    try {
      req = parseRequest(line);
    } catch (err) {
      this.answer(sock, {
        ok: false,
        error: `bad request: ${err instanceof Error ? err.message : String(err)}`,
      });
      return;
    }
    const progress = (p: UploadProgress) => {
      if (!sock.destroyed) sock.write(JSON.stringify({ progress: p }) + '\n');
    };
    try {
      const handler = this.handlers[req.op] as (r: ControlRequest, p: typeof progress) => Promise<unknown>;
      this.answer(sock, { ok: true, result: await handler(req, progress) });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.logger.warn('control request failed', { op: req.op, error: message });
      this.answer(sock, { ok: false, error: message });
    }
  }

  private answer(sock: Socket, line: ControlLine): void {
    if (!sock.destroyed) sock.end(JSON.stringify(line) + '\n');
  }

  /** Stops listening, lets answers under way reach their clients, removes the socket. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    delete this.server;
    const closed = new Promise<void>((r) => server.close(() => r()));
    const timer = setTimeout(() => {
      for (const s of this.open) s.destroy();
    }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(timer);
    await rm(this.socketPath, { force: true });
  }
}
