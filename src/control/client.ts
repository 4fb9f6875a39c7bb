// The command's end of the control channel: sends one request to a daemon's socket and
// returns its answer, passing progress lines to a callback (control/protocol.ts).
import { connect } from 'node:net';
import type { ControlLine, ControlRequest, ControlResults, UploadProgress } from './protocol.js';

/** The daemon is not there: no socket, or nobody listening on it (a killed daemon's). */
export class NoDaemonError extends Error {
  constructor(socketPath: string, cause: unknown) {
    super(`no s3mount daemon answers on ${socketPath}`, { cause });
    this.name = 'NoDaemonError';
  }
}

/**
 * The daemon took the request and went away without answering: it exited (an unmount
 * from outside stops it on its own) or died.
 */
export class DaemonGoneError extends Error {
  constructor(cause?: unknown) {
    super('the daemon closed the connection without an answer', { cause });
    this.name = 'DaemonGoneError';
  }
}

export interface RequestOptions {
  onProgress?: (p: UploadProgress) => void;
  /** give up after this long (default: wait as long as the daemon works on it) */
  timeoutMs?: number;
}

export function controlRequest<R extends ControlRequest>(
  socketPath: string,
  req: R,
  opts: RequestOptions = {},
): Promise<ControlResults[R['op']]> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let connected = false;
    let buf = '';
    let settled = false;
    const finish = (err: Error | undefined, result?: unknown) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(result as ControlResults[R['op']]);
    };
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => finish(new Error(`the daemon did not answer within ${opts.timeoutMs} ms`)),
            opts.timeoutMs,
          );
    sock.on('connect', () => {
      connected = true;
      sock.write(JSON.stringify(req) + '\n');
    });
    sock.on('error', (err) =>
      finish(connected ? new DaemonGoneError(err) : new NoDaemonError(socketPath, err)),
    );
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as ControlLine;
        buf = buf.slice(nl + 1);
        if ('progress' in line) opts.onProgress?.(line.progress);
        else if (line.ok) return finish(undefined, line.result);
        else return finish(new Error(line.error));
      }
    });
    sock.on('close', () => finish(new DaemonGoneError()));
  });
}
