// scripts/lib/bench-proxy.mjs TARGET_URL DELAY_MS [TAG]: a TCP proxy on 127.0.0.1 (any
// free port) in front of an S3 endpoint that delays every chunk, in both directions,
// by DELAY_MS (so a round trip costs 2 x DELAY_MS more), keeping order.  Up to 32 MiB per
// direction and connection may be "on the wire" (then the sender is paused, like a
// TCP window).  Prints "READY http://127.0.0.1:PORT"; SIGTERM stops it.  TAG is only
// there so scripts/bench can recognise its own process.  It counts the bytes that pass in
// each direction: on SIGUSR2 it prints "BYTES <to server> <from server>" (totals since
// it started).  With DELAY_MS 0 chunks are passed on at once (a counting proxy).
import { connect, createServer } from 'node:net';

const [targetUrl, delayArg] = process.argv.slice(2);
const target = new URL(targetUrl);
const delay = Number(delayArg);
if (!(delay >= 0)) throw new Error(`bad delay ${delayArg}`);
const WINDOW = 32 * 1024 * 1024;
const sockets = new Set();
const bytes = { up: 0, down: 0 };

function delayedPipe(src, dst, dir) {
  if (delay === 0) {
    src.on('data', (chunk) => { bytes[dir] += chunk.length; });
    src.pipe(dst);
    return;
  }
  let inFlight = 0;
  const check = () => {
    const over = inFlight + dst.writableLength > WINDOW;
    if (over && !src.isPaused()) src.pause();
    else if (!over && src.isPaused() && !src.destroyed) src.resume();
  };
  src.on('data', (chunk) => {
    bytes[dir] += chunk.length;
    inFlight += chunk.length;
    check();
    setTimeout(() => {
      inFlight -= chunk.length;
      if (!dst.destroyed) dst.write(chunk);
      check();
    }, delay);
  });
  dst.on('drain', check);
  src.on('end', () => setTimeout(() => { if (!dst.destroyed) dst.end(); }, delay));
}

const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  const upstream = connect({ port: Number(target.port || 80), host: target.hostname, noDelay: true, allowHalfOpen: true });
  sockets.add(client);
  sockets.add(upstream);
  const drop = () => {
    // let data already scheduled reach the other side before cutting it
    setTimeout(() => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); }, delay + 5);
  };
  client.on('error', drop).on('close', drop);
  upstream.on('error', drop).on('close', drop);
  delayedPipe(client, upstream, 'up');
  delayedPipe(upstream, client, 'down');
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY http://127.0.0.1:${server.address().port}\n`));
const stop = () => { for (const s of sockets) s.destroy(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 500).unref(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGUSR2', () => process.stdout.write(`BYTES ${bytes.up} ${bytes.down}\n`));
