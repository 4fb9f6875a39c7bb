// scripts/lib/bench.mjs: the benchmark behind scripts/bench (see there for usage).
// Compares s3mount with s3fs-fuse, rclone mount and "raw" (the same work done directly
// with the AWS SDK: the practical ceiling) on one S3 server, workload by workload.
// Every measurement drops the kernel caches and mounts fresh, then unmounts.
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync,
  writeFileSync, writeSync, createReadStream,
} from 'node:fs';
import { createServer } from 'node:net';
import { totalmem, cpus, release, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Upload } from '@aws-sdk/lib-storage';
import { bigdirRow, bigdirTarget, lsBigdir, prepareBigdir } from './bench-bigdir.mjs';
import { MiB, client, deleteObject, deletePrefix, ensureBucket, hashObject, head, listAll, pool, putSmall } from './bench-s3.mjs';
import { bytesRows, bytesWorkloads } from './bench-bytes.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const KiB = 1024;
const GiB = 1024 * MiB;

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = { server: 'rgw', latency: 0, smoke: false, repeat: undefined, only: undefined, tools: undefined, fioRuntime: undefined, docs: undefined, bucket: 's3mount-bench', port: 7580, work: undefined, results: undefined, command: 'scripts/bench', s3mountArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--work': o.work = val(); break;
      case '--command': o.command = val(); break;
      case '--server': o.server = val(); break;
      case '--latency': o.latency = Number(val()); break;
      case '--smoke': o.smoke = true; break;
      case '--only': o.only = val().split(','); break;
      case '--tools': o.tools = val().split(','); break;
      case '--fio-runtime': o.fioRuntime = Number(val()); break;
      case '--repeat': o.repeat = Number(val()); break;
      case '--docs': o.docs = true; break;
      case '--no-docs': o.docs = false; break;
      case '--bucket': o.bucket = val(); break;
      case '--port': o.port = Number(val()); break;
      case '--results': o.results = val(); break;
      case '--s3mount-arg': o.s3mountArgs.push(val()); break;
      default: die(`unknown argument ${a} (see scripts/bench --help)`);
    }
  }
  if (!o.work) die('--work DIR is required (scripts/bench passes it)');
  if (!['rgw', 's3rver'].includes(o.server)) die(`--server must be rgw or s3rver, not ${o.server}`);
  if (!(o.latency >= 0)) die('--latency needs a number of milliseconds');
  if (o.repeat !== undefined && !(Number.isInteger(o.repeat) && o.repeat >= 1)) die('--repeat needs a whole number >= 1');
  return o;
}
function die(msg) { process.stderr.write(`bench: ${msg}\n`); process.exit(2); }
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

const opt = parseArgs(process.argv.slice(2));
const LOAD0 = loadavg();
const WORK = resolve(opt.work);
const SMOKE = opt.smoke;
/** runs of each workload per tool; the figure is their median */
const REPEAT = opt.repeat ?? (SMOKE ? 1 : 3);
const SIZES = SMOKE
  ? { seq: 8 * MiB, rand: 8 * MiB, fio: opt.fioRuntime ?? 1, multiN: 8, multi: 4 * MiB, flat: 50, treeDirs: 5, treeFiles: 10, small: 20, smallSize: 4 * KiB }
  : { seq: 1 * GiB, rand: 256 * MiB, fio: opt.fioRuntime ?? 15, multiN: 8, multi: 128 * MiB, flat: 10_000, treeDirs: 1000, treeFiles: 10, small: 1000, smallSize: 4 * KiB };
const STEP_TIMEOUT = SMOKE ? 90 : 900; // seconds, for one timed command
const UNMOUNT_TIMEOUT = SMOKE ? 60 : 600; // daemon exit after unmount (pending uploads)
const BUCKET = opt.bucket;

// ---------------------------------------------------------------- process bookkeeping
let cleaning; // set once cleanup has begun: nothing new is started
const children = new Set(); // every child process still running that we started
const mounts = new Set(); // active mount handles
mkdirSync(join(WORK, 'pids'), { recursive: true });

function track(child, name) {
  children.add(child);
  if (name) writeFileSync(join(WORK, 'pids', `${name}.pid`), String(child.pid));
  child.on('exit', () => { children.delete(child); if (name) rmSync(join(WORK, 'pids', `${name}.pid`), { force: true }); });
  return child;
}

/**
 * Runs a command; resolves {code, signal, stdout, stderr, seconds, timedOut}.  The
 * command gets its own process group, killed (SIGKILL) when `timeout` seconds pass.
 */
function run(cmd, args, { timeout = STEP_TIMEOUT, env, input, capture = true, cwd } = {}) {
  return new Promise((resolvePromise, reject) => {
    if (cleaning && !['fusermount', 'sync'].includes(cmd) && !cmd.endsWith('ceph-rgw')) return reject(new Error('aborted'));
    const t0 = process.hrtime.bigint();
    const child = track(spawn(cmd, args, { env: env ?? process.env, cwd, detached: true, stdio: [input === undefined ? 'ignore' : 'pipe', capture ? 'pipe' : 'ignore', 'pipe'] }));
    const out = [];
    const err = [];
    child.stdout?.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => { if (err.length < 1000) err.push(d); });
    if (input !== undefined) child.stdin.end(input);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid, 'SIGKILL'); } catch {} }, timeout * 1000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, timedOut, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}
/** run(), failing unless it exits 0 */
async function must(cmd, args, o) {
  const r = await run(cmd, args, o);
  if (r.timedOut) throw new Error(`${cmd} timed out after ${o?.timeout ?? STEP_TIMEOUT} s`);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return r;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sh = (cmd, args) => { try { return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString(); } catch { return undefined; } };
const which = (name) => { try { return execFileSync('sh', ['-c', `command -v ${name}`]).toString().trim(); } catch { return undefined; } };
const firstLine = (cmd, args) => { try { return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().split('\n')[0].trim(); } catch { return 'not installed'; } };

async function freePort(from) {
  for (let p = from; p < from + 100; p++) {
    const ok = await new Promise((r) => { const s = createServer(); s.once('error', () => r(false)); s.listen(p, '127.0.0.1', () => s.close(() => r(true))); });
    if (ok) return p;
  }
  throw new Error(`no free port from ${from}`);
}

// ---------------------------------------------------------------- server
let server = { endpoint: undefined, env: {}, stop: async () => {}, kind: 'env', rgwDir: undefined };
let proxy;

async function startServer() {
  if (process.env.S3_ENDPOINT) {
    if (!process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY) die('S3_ENDPOINT needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    server = { endpoint: process.env.S3_ENDPOINT, kind: 'env', stop: async () => {} };
    log(`using the endpoint from the environment: ${server.endpoint} (nothing started)`);
    return;
  }
  if (opt.server === 'rgw') {
    const port = await freePort(opt.port);
    const dir = join(WORK, 'rgw');
    const env = { ...process.env };
    if (!env.CEPH_RGW_STORE_MB && !SMOKE) env.CEPH_RGW_STORE_MB = '12000';
    log(`starting Ceph RGW on 127.0.0.1:${port} (store ${env.CEPH_RGW_STORE_MB ?? 4096} MB)`);
    server = { kind: 'rgw', rgwDir: dir, stop: async () => { await run(join(ROOT, 'test/fixtures/ceph-rgw'), ['stop', dir], { timeout: 300, capture: false }); } };
    const r = await must(join(ROOT, 'test/fixtures/ceph-rgw'), ['start', dir, String(port)], { env, timeout: 180 });
    for (const m of r.stdout.matchAll(/(\w+)=(\S+)/g)) process.env[m[1]] = m[2];
    server.endpoint = process.env.S3_ENDPOINT;
    delete process.env.S3_ENDPOINT; // ours; not "from the environment" for anything we start
  } else {
    const dir = join(WORK, 's3rver');
    log('starting s3rver');
    const child = track(spawn(process.execPath, [join(ROOT, 'test/fixtures/s3rver-server.mjs'), '0', dir], { stdio: ['ignore', 'pipe', 'inherit'] }), 's3rver');
    const endpoint = await new Promise((res, rej) => {
      let buf = '';
      child.stdout.on('data', (d) => { buf += d; const m = /READY (\S+)/.exec(buf); if (m) res(m[1]); });
      child.on('exit', (c) => rej(new Error(`s3rver exited (${c})`)));
      setTimeout(() => rej(new Error('s3rver did not start in 30 s')), 30_000);
    });
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    server = { kind: 's3rver', endpoint, stop: async () => { await stopChild(child, 10); } };
  }
  log(`S3 at ${server.endpoint}`);
}

async function startProxy() {
  const child = track(spawn(process.execPath, [join(ROOT, 'scripts/lib/bench-proxy.mjs'), server.endpoint, String(opt.latency / 2), WORK], { stdio: ['ignore', 'pipe', 'inherit'] }), 'proxy');
  const endpoint = await new Promise((res, rej) => {
    let buf = '';
    child.stdout.on('data', (d) => { buf += d; const m = /READY (\S+)/.exec(buf); if (m) res(m[1]); });
    child.on('exit', (c) => rej(new Error(`delay proxy exited (${c})`)));
    setTimeout(() => rej(new Error('delay proxy did not start')), 10_000);
  });
  proxy = { child, endpoint };
  log(`delay proxy ${endpoint} -> ${server.endpoint}: +${opt.latency / 2} ms each way (+${opt.latency} ms per round trip)`);
}

async function stopChild(child, seconds) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { child.kill('SIGTERM'); } catch {}
  if (await Promise.race([exited.then(() => true), sleep(seconds * 1000).then(() => false)])) return;
  try { child.kill('SIGKILL'); } catch {}
  await Promise.race([exited, sleep(5000)]);
}

// ---------------------------------------------------------------- tools
const TOOL_INFO = {
  s3mount: 's3mount (default: close() returns when the object is in S3)',
  's3mount-wb': 's3mount --write-back (close() returns once staged; measured until the object is in S3)',
  raw: 'raw: @aws-sdk/client-s3 directly',
  s3fs: 's3fs-fuse',
  rclone: 'rclone mount',
};
let toolEndpoint; // what the tools talk to (the delay proxy with --latency)
let seq = 0;

function mountedAt(mnt) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mnt);
}

function peakRss(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch { return undefined; }
}

/** Mounts BUCKET with `tool` on a fresh directory; returns a handle with .mnt, .pid, .unmount() */
async function mount(tool, extra = [], endpoint = toolEndpoint) {
  if (cleaning) throw new Error('aborted');
  const id = `${String(++seq).padStart(3, '0')}-${tool}`;
  const dir = join(WORK, 'm', id);
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt, { recursive: true });
  const logFile = join(dir, 'daemon.log');
  const logFd = openSync(logFile, 'w');
  const env = { ...process.env };
  let cmd, args;
  if (tool === 's3mount' || tool === 's3mount-wb') {
    cmd = process.execPath;
    args = [join(ROOT, 'bin/s3mount.js'), BUCKET, mnt, '--endpoint', endpoint, '-f', '--staging-dir', join(dir, 'staging'), '--log-level', 'info',
      ...(tool === 's3mount-wb' ? ['--write-back'] : []), ...opt.s3mountArgs, ...extra];
  } else if (tool === 's3fs') {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, `${env.AWS_ACCESS_KEY_ID}:${env.AWS_SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
    chmodSync(pw, 0o600);
    mkdirSync(join(dir, 'tmp'));
    cmd = 's3fs';
    args = [BUCKET, mnt, '-f', '-o', [`url=${endpoint}`, 'use_path_request_style', `passwd_file=${pw}`, `tmpdir=${join(dir, 'tmp')}`, ...S3FS_OPTS].join(','), ...extra];
  } else if (tool === 'rclone') {
    Object.assign(env, {
      RCLONE_CONFIG_BENCH_TYPE: 's3', RCLONE_CONFIG_BENCH_PROVIDER: server.kind === 'rgw' ? 'Ceph' : 'Other',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint, RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY, RCLONE_CONFIG_BENCH_REGION: env.AWS_REGION || 'us-east-1',
    });
    delete env.AWS_CA_BUNDLE; // rclone 1.60 fails on it ("unsupported transport") even for http://
    cmd = 'rclone';
    args = ['mount', `bench:${BUCKET}`, mnt, '--cache-dir', join(dir, 'cache'), ...RCLONE_OPTS, '--log-level', 'NOTICE', '--config', '/dev/null', ...extra];
  } else throw new Error(`no mount for ${tool}`);
  const child = track(spawn(cmd, args, { env, stdio: ['ignore', logFd, logFd] }), `daemon-${id}`);
  closeSync(logFd);
  const handle = { tool, mnt, dir, logFile, pid: child.pid, child, mounted: false };
  mounts.add(handle);
  handle.unmount = () => unmount(handle);
  const deadline = Date.now() + 30_000;
  while (!mountedAt(mnt)) {
    if (child.exitCode !== null || child.signalCode !== null) { mounts.delete(handle); throw new Error(`${tool} exited before mounting: ${tail(logFile)}`); }
    if (Date.now() > deadline) { await unmount(handle); throw new Error(`${tool} did not mount within 30 s: ${tail(logFile)}`); }
    await sleep(20);
  }
  handle.mounted = true;
  return handle;
}
const tail = (file, n = 3) => { try { return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join(' / '); } catch { return ''; } };

async function unmount(h) {
  if (!mounts.has(h)) return;
  mounts.delete(h);
  let ok = false;
  for (let i = 0; i < 25 && mountedAt(h.mnt); i++) {
    const r = await run('fusermount', ['-u', h.mnt], { timeout: 30 });
    if (r.code === 0) { ok = true; break; }
    await sleep(200);
  }
  if (!ok && mountedAt(h.mnt)) { log(`${h.tool}: lazy unmount of ${h.mnt}`); await run('fusermount', ['-uz', h.mnt], { timeout: 30 }); }
  const exited = await Promise.race([new Promise((r) => (h.child.exitCode !== null || h.child.signalCode !== null ? r(true) : h.child.once('exit', () => r(true)))), sleep(UNMOUNT_TIMEOUT * 1000).then(() => false)]);
  if (!exited) { log(`${h.tool} did not exit after unmount: stopping it`); await stopChild(h.child, 10); }
  if (mountedAt(h.mnt)) await run('fusermount', ['-uz', h.mnt], { timeout: 30 });
  rmSync(join(h.dir, 'staging'), { recursive: true, force: true });
  rmSync(join(h.dir, 'cache'), { recursive: true, force: true });
  rmSync(join(h.dir, 'tmp'), { recursive: true, force: true });
  return h.child.exitCode;
}

/** s3mount's S3 request counts from its exit log line, e.g. "GetObject: 130, HeadBucket: 1" */
/** The S3 requests of s3mount's exit line (JSON: {"msg":"stopped","requests":{...}}), as "Name: n, ..." */
function s3mountRequests(h) {
  for (const line of readFileSync(h.logFile, 'utf8').split('\n').reverse()) {
    if (!line.includes('"msg":"stopped"')) continue;
    try {
      const req = JSON.parse(line).requests;
      if (req) return Object.entries(req).filter(([, n]) => n > 0).map(([k, n]) => `${k}: ${n}`).join(', ');
    } catch { /* a line cut short: keep looking */ }
  }
  return undefined;
}

// What each peer is given (documented in the report).  Only what makes them work on
// this server and the usual settings for speed; their defaults otherwise.
const S3FS_OPTS = ['complement_stat', 'enable_noobj_cache'];
const RCLONE_OPTS = ['--vfs-cache-mode', 'writes', '--vfs-write-back', '0s', '--use-server-modtime'];

let dropWarned = false;
async function dropCaches() {
  await run('sync', [], { timeout: 120, capture: false });
  try { writeFileSync('/proc/sys/vm/drop_caches', '3'); } catch (e) {
    if (!dropWarned) log(`cannot drop caches (${e.code}): measurements may hit the page cache`);
    dropWarned = true;
  }
  await settle();
}

/** CPU busy fraction of the whole machine over `ms` (from /proc/stat). */
async function busyFraction(ms) {
  const read = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const a = read();
  await sleep(ms);
  const b = read();
  const d = b.map((v, i) => v - (a[i] ?? 0));
  const total = d.reduce((x, y) => x + y, 0);
  const idle = (d[3] ?? 0) + (d[4] ?? 0); // idle + iowait
  return total > 0 ? 1 - idle / total : 0;
}

/**
 * Waits (up to 60 s) until the machine is quiet: the server keeps working for a while
 * after data is prepared or written (RGW garbage collection, OSD flushes), and whichever
 * tool is measured next would pay for it. The smoke run measures nothing worth waiting
 * for: 2 s at most there.
 */
async function settle() {
  const deadline = Date.now() + (SMOKE ? 2_000 : 60_000);
  while (Date.now() < deadline && (await busyFraction(500)) > 0.15);
}

// ---------------------------------------------------------------- data
const SHM = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : WORK, 's3bench-'));
writeFileSync(join(WORK, 'shm-dir'), SHM);
const expect = {}; // sha256 of prepared data
let s3; // the orchestrator's own client (direct to the server: never through the delay proxy)

function writeRandomFile(path, size) {
  const fd = openSync(path, 'w');
  const h = createHash('sha256');
  for (let off = 0; off < size; off += 4 * MiB) {
    const b = randomBytes(Math.min(4 * MiB, size - off));
    h.update(b);
    writeSync(fd, b);
  }
  closeSync(fd);
  return h.digest('hex');
}

async function uploadObject(Key, body, sha256) {
  await new Upload({ client: s3, params: { Bucket: BUCKET, Key, Body: body, Metadata: { sha256 } }, partSize: 8 * MiB, queueSize: 8 }).done();
}

/** An object of `size` random bytes at Key (kept if one with a recorded checksum is there). */
async function prepareObject(Key, size, file) {
  const h = await head(s3, BUCKET, Key);
  if (h?.size === size && h.meta.sha256) return h.meta.sha256;
  if (file) { await uploadObject(Key, createReadStream(file, { highWaterMark: MiB }), expect.src); return expect.src; }
  const buf = randomBytes(size);
  const sha = createHash('sha256').update(buf).digest('hex');
  await uploadObject(Key, buf, sha);
  return sha;
}

async function prepareMany(prefix, keys, size) {
  const have = new Set((await listAll(s3, BUCKET, prefix)).filter((o) => o.size === size).map((o) => o.key));
  const missing = keys.filter((k) => !have.has(k));
  const body = Buffer.alloc(size, 'x');
  await pool(missing.length, 64, (i) => putSmall(s3, BUCKET, missing[i], body));
  const extra = [...have].filter((k) => !keys.includes(k));
  if (extra.length) throw new Error(`${prefix} holds objects other than the benchmark's`);
}

async function prepare(workloads) {
  const t0 = Date.now();
  await ensureBucket(s3, BUCKET);
  const need = (w) => workloads.includes(w);
  if (need('seqwrite') || need('seqread') || need('reread') || need('bigrand')) { expect.src = writeRandomFile(join(SHM, 'src.bin'), SIZES.seq); }
  if (need('small')) {
    mkdirSync(join(SHM, 'small'));
    const h = createHash('sha256');
    for (let i = 0; i < SIZES.small; i++) {
      const b = randomBytes(SIZES.smallSize);
      h.update(b);
      writeFileSync(join(SHM, 'small', `f${String(i).padStart(5, '0')}`), b);
    }
    expect.small = h.digest('hex');
  }
  if (need('seqread') || need('reread') || need('bigrand')) expect.seq = await prepareObject('seq/read.bin', SIZES.seq, join(SHM, 'src.bin'));
  if (need('randread')) expect.rand = await prepareObject('rand/obj.bin', SIZES.rand);
  if (need('multiread')) {
    expect.multi = [];
    for (let i = 0; i < SIZES.multiN; i++) expect.multi.push(await prepareObject(`multi/r${i}.bin`, SIZES.multi));
  }
  if (need('ls')) await prepareMany('flat/', Array.from({ length: SIZES.flat }, (_, i) => `flat/obj-${String(i).padStart(6, '0')}`), 64);
  if (need('find')) {
    const keys = [];
    for (let d = 0; d < SIZES.treeDirs; d++) for (let f = 0; f < SIZES.treeFiles; f++) keys.push(`tree/d${String(d).padStart(4, '0')}/f${String(f).padStart(2, '0')}`);
    await prepareMany('tree/', keys, 64);
    // s3rver 3.7.1 leaves prefixes with deeper keys only (tree/d0000/f00) out of the bucket's
    // delimiter listing, so rclone, which lists the parent to find a directory, does not see
    // tree/: a marker object makes it show up there
    if (server.kind === 's3rver') await putSmall(s3, BUCKET, 'tree/', '');
  }
  if (need('ls100k')) await prepareBigdir({ s3, bucket: BUCKET, smoke: SMOKE, log });
  log(`data ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function rgwGc() {
  // deleted objects stay in the OSD's RAM until RGW's garbage collector runs; help it
  if (server.kind !== 'rgw') return;
  await run('radosgw-admin', ['-c', join(server.rgwDir, 'ceph.conf'), 'gc', 'process', '--include-all'], { timeout: 300, capture: false });
}

// ---------------------------------------------------------------- workloads
const MB = 1e6;
const fmtSize = (b) => (b >= GiB ? `${b / GiB} GiB` : b >= MiB ? `${b / MiB} MiB` : `${b / KiB} KiB`);
const num = (n) => n.toLocaleString('en-US');

/** Rows of the result table.  better: 'higher' (rates) or 'lower' (seconds). */
const ROWS = [
  { id: 'seqread', wl: 'seqread', label: `Sequential read, ${fmtSize(SIZES.seq)} (MB/s)`, unit: 'MB/s', better: 'higher', chart: 'seq read' },
  { id: 'seqwrite', wl: 'seqwrite', label: `Sequential write, ${fmtSize(SIZES.seq)}, until in S3 (MB/s)`, unit: 'MB/s', better: 'higher', chart: 'seq write' },
  { id: 'rand1', wl: 'randread', label: 'Random 4 KiB reads, 1 job (IOPS)', unit: 'IOPS', better: 'higher', chart: 'rand 4K x1' },
  { id: 'rand8', wl: 'randread', label: 'Random 4 KiB reads, 8 jobs (IOPS)', unit: 'IOPS', better: 'higher', chart: 'rand 4K x8' },
  { id: 'ls', wl: 'ls', label: `ls -l, ${num(SIZES.flat)} files in one directory (s)`, unit: 's', better: 'lower', chart: 'ls -l' },
  { id: 'find', wl: 'find', label: `find, ${num(SIZES.treeDirs)} dirs x ${SIZES.treeFiles} files (s)`, unit: 's', better: 'lower', chart: 'find' },
  { id: 'smallw', wl: 'small', label: `Create ${num(SIZES.small)} x 4 KiB files, until in S3 (s)`, unit: 's', better: 'lower', chart: 'small create' },
  { id: 'smallr', wl: 'small', label: `Read back ${num(SIZES.small)} x 4 KiB files (s)`, unit: 's', better: 'lower', chart: 'small read' },
  { id: 'reread', wl: 'reread', label: `Re-read ${fmtSize(SIZES.seq)} after a remount (MB/s; raw = local disk; s3mount --cache-dir)`, unit: 'MB/s', better: 'higher', chart: 're-read' },
  bigdirRow(SMOKE),
  { id: 'multi', wl: 'multiread', label: `${SIZES.multiN} readers x ${fmtSize(SIZES.multi)} at once (MB/s, aggregate)`, unit: 'MB/s', better: 'higher', chart: '8 readers' },
  ...bytesRows({ SMOKE, fmtSize, seqBytes: SIZES.seq }),
];
const WORKLOADS = ['seqread', 'seqwrite', 'randread', 'ls', 'ls100k', 'find', 'small', 'multiread', 'reread', 'fanin', 'bigrand'];
const WRITE_WORKLOADS = ['seqwrite', 'small'];

const results = {}; // results[rowId][tool] = {value, error, note, rss}
const rss = {}; // rss[workload][tool] = bytes (max over the workload's mounts)
const cpu = {}; // cpu[rowId][tool] = CPU seconds of the daemon (raw: its process), start-up included
const noteCpu = (row, tool, secs) => { if (secs !== undefined) ((cpu[row] ??= {})[tool] ??= []).push(secs); };
const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime (fields 14 and 15)
  } catch { return undefined; }
}
const requests = {}; // requests[rowId][tool] = s3mount request counts
// Every run of a workload adds a sample to its cells; the figure shown is their median.
// An error in any run makes the cell an error.
const setResult = (row, tool, r) => {
  const cells = (results[row] ??= {});
  const had = cells[tool];
  if (had?.error) return;
  if (r.value === undefined) { cells[tool] = r; return; }
  const samples = [...(had?.samples ?? []), r.value];
  cells[tool] = { ...r, samples, value: median(samples) };
};
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const noteRss = (wl, tool, bytes) => { if (bytes) { rss[wl] ??= {}; rss[wl][tool] = Math.max(rss[wl][tool] ?? 0, bytes); } };

let failures = 0;
function fail(row, tool, err) {
  failures++;
  const msg = (err?.message ?? String(err)).replace(/\s+/g, ' ').slice(0, 300);
  log(`ERROR ${row} / ${tool}: ${msg}`);
  setResult(row, tool, { error: msg });
}

async function raw(op, args) {
  const r = await must(process.execPath, [join(ROOT, 'scripts/lib/bench-raw.mjs'), JSON.stringify({ op, endpoint: toolEndpoint, bucket: BUCKET, ...args })]);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  const row = args.row ?? { seqread: 'seqread', multiread: 'multi', seqwrite: 'seqwrite', randread: args.jobs === 1 ? 'rand1' : 'rand8', ls: 'ls', find: 'find', smallput: 'smallw', smallget: 'smallr' }[op];
  noteCpu(row, 'raw', out.cpu);
  return out;
}

/** Mount fresh (after dropping caches), run fn(handle), record RSS, unmount. */
async function withMount(tool, wl, row, fn, extra = [], endpoint = toolEndpoint) {
  await dropCaches();
  const h = await mount(tool, extra, endpoint);
  let out;
  try {
    out = await fn(h);
    noteRss(wl, tool, peakRss(h.pid));
    noteCpu(row, tool, cpuSeconds(h.pid));
    if (out?.afterRss) await out.afterRss();
  } finally {
    const code = await unmount(h);
    if (tool.startsWith('s3mount')) {
      const req = s3mountRequests(h);
      if (req) (requests[row] ??= {})[tool] = req;
      if (code !== 0 && out) throw new Error(`s3mount exited ${code} after unmount: ${tail(h.logFile)}`);
    }
  }
  return out;
}

const checkTimed = (r, what) => {
  if (r.timedOut) throw new Error(`${what} timed out`);
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
};
async function sha256File(path) {
  const r = await must('sha256sum', [path]);
  return r.stdout.split(' ')[0];
}
/** Polls check() until true; returns the time it first was. */
async function waitUntil(check, what, timeout = STEP_TIMEOUT, every = 25) {
  const deadline = Date.now() + timeout * 1000;
  for (;;) {
    if (await check()) return process.hrtime.bigint();
    if (Date.now() > deadline) throw new Error(`${what}: not in S3 after ${timeout} s`);
    await sleep(every);
  }
}
const since = (t0, t1 = process.hrtime.bigint()) => Number(t1 - t0) / 1e9;

// fanin, bigrand: bytes fetched from the server (scripts/lib/bench-bytes.mjs)
const BYTES = bytesWorkloads({
  SMOKE, ROOT, WORK, BUCKET, fio: SIZES.fio, seqKey: 'seq/read.bin', seqBytes: SIZES.seq, toolEndpoint: () => toolEndpoint,
  track, run, must, withMount, setResult, noteRss, noteCpu, fail, dropCaches, checkTimed, sha256File, which, log, rgwGc,
  prepareObject: (key, size) => prepareObject(key, size), deleteObject: (key) => deleteObject(s3, BUCKET, key),
});

const W = {
  ...BYTES.workloads,
  ls100k: (tool) => lsBigdir({ smoke: SMOKE, run, raw, withMount, setResult, noteRss, checkTimed }, tool),
  async seqread(tool) {
    const size = SIZES.seq;
    if (tool === 'raw') {
      const r = await raw('seqread', { key: 'seq/read.bin', size, inflight: 8, hash: SMOKE });
      if (r.bytes !== size) throw new Error(`read ${r.bytes} bytes, not ${size}`);
      if (SMOKE && r.sha256 !== expect.seq) throw new Error('wrong bytes read (sha256 differs)');
      noteRss('seqread', 'raw', r.rss);
      return setResult('seqread', tool, { value: size / r.seconds / MB });
    }
    await withMount(tool, 'seqread', 'seqread', async (h) => {
      const f = join(h.mnt, 'seq/read.bin');
      const r = await run('dd', [`if=${f}`, 'of=/dev/null', 'bs=1M']);
      checkTimed(r, 'dd');
      const bytes = Number(/(\d+) bytes/.exec(r.stderr)?.[1]);
      if (bytes !== size) throw new Error(`dd read ${bytes} bytes, not ${size}`);
      setResult('seqread', tool, { value: size / r.seconds / MB });
      return { afterRss: async () => { if ((await sha256File(f)) !== expect.seq) throw new Error('wrong bytes read (sha256 differs)'); } };
    });
  },

  // The persistent node cache (--cache-dir): the object is read once (untimed), the mount
  // goes, caches are dropped, a new mount reads it again. The reference (raw) is the local
  // disk the cache lives on: the same bytes from a plain file there, page cache dropped.
  async reread(tool) {
    const size = SIZES.seq;
    const cacheDir = join(WORK, 'disk-cache'); // on the root disk (WORK is under /tmp), not tmpfs
    if (tool === 'raw') {
      const local = join(WORK, 'local-ref.bin');
      if (!existsSync(local)) await must('cp', [join(SHM, 'src.bin'), local]);
      await dropCaches();
      const r = await run('dd', [`if=${local}`, 'of=/dev/null', 'bs=1M']);
      checkTimed(r, 'dd');
      return setResult('reread', tool, { value: size / r.seconds / MB, note: 'local disk' });
    }
    if (tool !== 's3mount') return setResult('reread', tool, { skip: 'persistent cache not measured' });
    rmSync(cacheDir, { recursive: true, force: true });
    const f = (h) => join(h.mnt, 'seq/read.bin');
    const warm = await mount(tool, ['--cache-dir', cacheDir, '--cache-dir-size', `${2 * size}`]);
    try { checkTimed(await run('dd', [`if=${f(warm)}`, 'of=/dev/null', 'bs=1M']), 'dd (warming the cache)'); } finally { await warm.unmount(); }
    await withMount(tool, 'reread', 'reread', async (h) => {
      const r = await run('dd', [`if=${f(h)}`, 'of=/dev/null', 'bs=1M']);
      checkTimed(r, 'dd');
      const bytes = Number(/(\d+) bytes/.exec(r.stderr)?.[1]);
      if (bytes !== size) throw new Error(`dd read ${bytes} bytes, not ${size}`);
      const st = JSON.parse((await must(process.execPath, [join(ROOT, 'bin/s3mount.js'), 'status', h.mnt, '--json'])).stdout)[0];
      const fetched = st?.s3?.downloadedBytes;
      setResult('reread', tool, { value: size / r.seconds / MB, note: `${fetched === undefined ? '?' : (fetched / MiB).toFixed(1)} MiB from S3` });
      return { afterRss: async () => { if ((await sha256File(f(h))) !== expect.seq) throw new Error('wrong bytes read (sha256 differs)'); } };
    }, ['--cache-dir', cacheDir, '--cache-dir-size', `${2 * size}`]);
  },

  async multiread(tool) {
    const n = SIZES.multiN;
    const size = SIZES.multi;
    const total = n * size;
    const keys = Array.from({ length: n }, (_, i) => `multi/r${i}.bin`);
    if (tool === 'raw') {
      const r = await raw('multiread', { keys, size, inflight: 1, hash: SMOKE });
      if (r.bytes !== total) throw new Error(`read ${r.bytes} bytes, not ${total}`);
      if (SMOKE && r.sha256s.some((s, i) => s !== expect.multi[i])) throw new Error('wrong bytes read (sha256 differs)');
      noteRss('multiread', 'raw', r.rss);
      return setResult('multi', tool, { value: total / r.seconds / MB });
    }
    await withMount(tool, 'multiread', 'multi', async (h) => {
      const t0 = process.hrtime.bigint();
      const rs = await Promise.all(keys.map((k) => run('dd', [`if=${join(h.mnt, k)}`, 'of=/dev/null', 'bs=1M'])));
      const secs = since(t0);
      rs.forEach((r, i) => {
        checkTimed(r, `dd ${keys[i]}`);
        const bytes = Number(/(\d+) bytes/.exec(r.stderr)?.[1]);
        if (bytes !== size) throw new Error(`dd ${keys[i]} read ${bytes} bytes, not ${size}`);
      });
      setResult('multi', tool, { value: total / secs / MB });
      return { afterRss: async () => {
        for (let i = 0; i < n; i++) if ((await sha256File(join(h.mnt, keys[i]))) !== expect.multi[i]) throw new Error(`wrong bytes read from ${keys[i]} (sha256 differs)`);
      } };
    });
  },

  async seqwrite(tool) {
    const size = SIZES.seq;
    const key = `seqwrite-${tool}.bin`;
    const src = join(SHM, 'src.bin');
    const inS3 = async () => (await head(s3, BUCKET, key))?.size === size;
    await deleteObject(s3, BUCKET, key);
    try {
      if (tool === 'raw') {
        await dropCaches();
        const r = await raw('seqwrite', { key, file: src, size, partSize: 8 * MiB, queueSize: 8 });
        noteRss('seqwrite', 'raw', r.rss);
        if (!(await inS3())) throw new Error('object not in S3 with the right size after the upload');
        setResult('seqwrite', tool, { value: size / r.seconds / MB });
      } else {
        await withMount(tool, 'seqwrite', 'seqwrite', async (h) => {
          const t0 = process.hrtime.bigint();
          const r = await run('dd', [`if=${src}`, `of=${join(h.mnt, key)}`, 'bs=1M']);
          checkTimed(r, 'dd');
          const closed = since(t0);
          const t1 = await waitUntil(inS3, key);
          setResult('seqwrite', tool, { value: size / since(t0, t1) / MB, note: closed < since(t0, t1) * 0.9 ? `close after ${closed.toFixed(1)} s` : undefined });
        });
      }
      const got = await hashObject(s3, BUCKET, key);
      if (got.size !== size || got.sha256 !== expect.src) throw new Error(`object in S3 differs from what was written (${got.size} bytes)`);
    } finally {
      await deleteObject(s3, BUCKET, key).catch(() => {});
      await rgwGc();
    }
  },

  async randread(tool) {
    const size = SIZES.rand;
    for (const jobs of [1, 8]) {
      const row = jobs === 1 ? 'rand1' : 'rand8';
      try {
        if (tool === 'raw') {
          const r = await raw('randread', { key: 'rand/obj.bin', size, jobs, runtime: SIZES.fio });
          noteRss('randread', 'raw', r.rss);
          setResult(row, tool, { value: r.iops });
          continue;
        }
        if (!which('fio')) { setResult(row, tool, { skip: 'fio not installed' }); continue; }
        await withMount(tool, 'randread', row, async (h) => {
          const r = await run('fio', ['--name=randread', `--filename=${join(h.mnt, 'rand/obj.bin')}`, '--readonly', '--ioengine=psync', '--direct=0',
            '--rw=randread', '--bs=4k', `--size=${size}`, `--runtime=${SIZES.fio}`, '--time_based', `--numjobs=${jobs}`, '--group_reporting',
            '--randrepeat=0', '--output-format=json'], { timeout: SIZES.fio + 120 });
          checkTimed(r, 'fio');
          const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
          const job = j.jobs[0];
          if (job.error) throw new Error(`fio error ${job.error}`);
          if (!(job.read.total_ios > 0)) throw new Error('fio did no reads');
          setResult(row, tool, { value: job.read.iops });
        });
      } catch (e) { fail(row, tool, e); }
    }
  },

  async ls(tool) {
    const n = SIZES.flat;
    if (tool === 'raw') {
      const r = await raw('ls', { prefix: 'flat/' });
      if (r.count !== n) throw new Error(`listed ${r.count} objects, not ${n}`);
      noteRss('ls', 'raw', r.rss);
      return setResult('ls', tool, { value: r.seconds });
    }
    await withMount(tool, 'ls', 'ls', async (h) => {
      const r = await run('ls', ['-l', join(h.mnt, 'flat')], { env: { ...process.env, LC_ALL: 'C' } });
      checkTimed(r, 'ls -l');
      const files = r.stdout.split('\n').filter((l) => l.startsWith('-')).length;
      if (files !== n) throw new Error(`ls -l showed ${files} files, not ${n}`);
      setResult('ls', tool, { value: r.seconds });
    });
  },

  async find(tool) {
    const n = SIZES.treeDirs * SIZES.treeFiles;
    if (tool === 'raw') {
      const r = await raw('find', { prefix: 'tree/' });
      if (r.count !== n) throw new Error(`listed ${r.count} objects, not ${n}`);
      noteRss('find', 'raw', r.rss);
      return setResult('find', tool, { value: r.seconds });
    }
    await withMount(tool, 'find', 'find', async (h) => {
      const r = await run('find', [join(h.mnt, 'tree')]);
      checkTimed(r, 'find');
      const lines = r.stdout.trim().split('\n').length;
      const want = 1 + SIZES.treeDirs + n;
      if (lines !== want) throw new Error(`find printed ${lines} paths, not ${want}`);
      setResult('find', tool, { value: r.seconds });
    });
  },

  async small(tool) {
    const n = SIZES.small;
    const prefix = `small-${tool}/`;
    const allInS3 = async () => {
      const objs = await listAll(s3, BUCKET, prefix);
      const files = objs.filter((o) => !o.key.endsWith('/')); // not a directory marker
      return files.length === n && files.every((o) => o.size === SIZES.smallSize);
    };
    await deletePrefix(s3, BUCKET, prefix);
    try {
      // create
      try {
        if (tool === 'raw') {
          await dropCaches();
          const r = await raw('smallput', { dir: join(SHM, 'small'), prefix, inflight: 32 });
          noteRss('small', 'raw', r.rss);
          if (!(await allInS3())) throw new Error('not all objects in S3 after the uploads');
          setResult('smallw', tool, { value: r.seconds });
        } else {
          await withMount(tool, 'small', 'smallw', async (h) => {
            const t0 = process.hrtime.bigint();
            const r = await run('cp', ['-r', join(SHM, 'small'), join(h.mnt, prefix.slice(0, -1))]);
            checkTimed(r, 'cp -r');
            const closed = since(t0);
            const t1 = await waitUntil(allInS3, prefix, STEP_TIMEOUT, 50);
            setResult('smallw', tool, { value: since(t0, t1), note: closed < since(t0, t1) * 0.9 ? `cp done after ${closed.toFixed(1)} s` : undefined });
          });
        }
      } catch (e) { fail('smallw', tool, e); return; }
      // read back, on a fresh mount
      try {
        if (tool === 'raw') {
          await dropCaches();
          const r = await raw('smallget', { prefix, inflight: 32 });
          noteRss('small', 'raw', r.rss);
          if (r.count !== n || r.sha256 !== expect.small) throw new Error(`read back ${r.count} files; bytes differ from what was written`);
          setResult('smallr', tool, { value: r.seconds });
        } else {
          await withMount(tool, 'small', 'smallr', async (h) => {
            const dir = join(h.mnt, prefix.slice(0, -1));
            const r = await run('bash', ['-c', 'cat "$1"/* | sha256sum', 'bash', dir], { env: { ...process.env, LC_ALL: 'C' } });
            checkTimed(r, 'cat');
            if (r.stdout.split(' ')[0] !== expect.small) throw new Error('bytes read back differ from what was written');
            setResult('smallr', tool, { value: r.seconds });
          });
        }
      } catch (e) { fail('smallr', tool, e); }
    } finally {
      await deletePrefix(s3, BUCKET, prefix).catch(() => {});
    }
  },
};

// ---------------------------------------------------------------- report
const TOOL_ORDER = ['s3mount', 's3mount-wb', 'raw', 's3fs', 'rclone'];
const fmtVal = (v, unit) => (unit === 's' ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
function ratio(row, tool) {
  const r = results[row.id]?.[tool];
  const base = results[row.id]?.raw;
  if (r?.value === undefined || base?.value === undefined) return undefined;
  return row.better === 'higher' ? r.value / base.value : base.value / r.value;
}
const fmtRatio = (x) => (x === undefined ? '' : x >= 10 ? `${x.toFixed(0)}x` : x >= 0.1 ? `${x.toFixed(2)}x` : `${x.toFixed(3)}x`);
const mib = (b) => (b / MiB).toFixed(0);

function cell(row, tool) {
  const r = results[row.id]?.[tool];
  if (!r) return '—';
  if (r.error) return `**ERROR**: ${r.error.replace(/\|/g, '\\|').slice(0, 120)}`;
  if (r.skip) return `skipped: ${r.skip}`;
  const x = tool === 'raw' ? '' : ratio(row, tool);
  return `${fmtVal(r.value, row.unit)}${x === undefined || x === '' ? '' : ` (${fmtRatio(x)})`}${r.note ? ` <sub>${r.note}</sub>` : ''}`;
}

function markdown(tools, rows) {
  const L = [];
  L.push(`| workload | ${tools.map((t) => t).join(' | ')} |`);
  L.push(`|---|${tools.map(() => '---:').join('|')}|`);
  for (const row of rows) L.push(`| ${row.label} | ${tools.map((t) => cell(row, t)).join(' | ')} |`);
  // peak RSS, max over workloads
  L.push(`| Peak RSS of the daemon, max over workloads (MiB) | ${tools.map((t) => {
    const v = Math.max(0, ...Object.values(rss).map((w) => w[t] ?? 0));
    return v ? mib(v) : '—';
  }).join(' | ')} |`);
  return L.join('\n');
}

function cpuTable(tools, rows) {
  const L = [`| workload | ${tools.join(' | ')} |`, `|---|${tools.map(() => '---:').join('|')}|`];
  for (const row of rows) if (cpu[row.id]) L.push(`| ${row.label} | ${tools.map((t) => (cpu[row.id][t] !== undefined ? median(cpu[row.id][t]).toFixed(1) : '—')).join(' | ')} |`);
  return L.join('\n');
}

function samplesTable(tools, rows) {
  const L = [`| workload | ${tools.join(' | ')} |`, `|---|${tools.map(() => '---').join('|')}|`];
  for (const row of rows) L.push(`| ${row.label} | ${tools.map((t) => results[row.id]?.[t]?.samples?.map((v) => fmtVal(v, row.unit)).join(' / ') ?? '—').join(' | ')} |`);
  return L.join('\n');
}

function rssTable(tools) {
  const wls = WORKLOADS.filter((w) => rss[w]);
  const L = [`| workload | ${tools.join(' | ')} |`, `|---|${tools.map(() => '---:').join('|')}|`];
  for (const w of wls) L.push(`| ${w} | ${tools.map((t) => (rss[w][t] ? mib(rss[w][t]) : '—')).join(' | ')} |`);
  return L.join('\n');
}

function requestTable(rows) {
  const L = ['| workload | s3mount | s3mount --write-back |', '|---|---|---|'];
  for (const row of rows) if (requests[row.id]) L.push(`| ${row.label} | ${requests[row.id].s3mount ?? '—'} | ${requests[row.id]['s3mount-wb'] ?? '—'} |`);
  return L.join('\n');
}

function targets() {
  const v = (row, t) => results[row]?.[t]?.value;
  const R = (id) => ROWS.find((r) => r.id === id);
  const peers = ['s3fs', 'rclone'];
  const out = [];
  const add = (name, ok, detail) => out.push(`| ${name} | ${ok === undefined ? 'n/a' : ok ? 'met' : '**not met**'} | ${detail} |`);
  const rr = (id) => ratio(R(id), 's3mount');
  const fx = (x) => (x === undefined ? '?' : x.toFixed(2));
  let x = rr('seqread'); add('sequential read >= 0.9x raw', x === undefined ? undefined : x >= 0.9, `${fx(x)}x`);
  x = rr('multi'); add('8 concurrent readers >= 0.9x raw aggregate', x === undefined ? undefined : x >= 0.9, `${fx(x)}x`);
  x = rr('seqwrite'); add('sequential write until in S3 >= 0.8x raw', x === undefined ? undefined : x >= 0.8, `${fx(x)}x (--write-back: ${fx(ratio(R('seqwrite'), 's3mount-wb'))}x)`);
  const ls = v('ls', 's3mount');
  const lsRaw = v('ls', 'raw');
  const lsS3fs = v('ls', 's3fs');
  if (ls !== undefined) add('ls -l <= 1.5x raw LIST time and >= 5x faster than s3fs', lsRaw === undefined || lsS3fs === undefined ? undefined : ls <= 1.5 * lsRaw && lsS3fs / ls >= 5,
    `${lsRaw ? (ls / lsRaw).toFixed(2) : '?'}x raw time; ${lsS3fs ? (lsS3fs / ls).toFixed(1) : '?'}x faster than s3fs`);
  // issue #16 (round two): small files and walks, as times (lower is better)
  const time = (row, tool) => v(row, tool);
  const bestTime = (row) => Math.min(...peers.map((p) => time(row, p) ?? Infinity));
  const timeRatio = (row, tool) => { const me = time(row, tool); const raw = time(row, 'raw'); return me && raw ? raw / me : undefined; };
  const fasterThan = (row, tool, best) => { const me = time(row, tool); return me === undefined || best === Infinity ? undefined : me < best; };
  const swb = time('smallw', 's3mount-wb');
  if (swb !== undefined) {
    const x = timeRatio('smallw', 's3mount-wb');
    const ok = x === undefined ? undefined : x >= 0.8 && fasterThan('smallw', 's3mount-wb', bestTime('smallw')) === true;
    add('1,000 small creates until in S3, --write-back: >= 0.8x raw and faster than every peer', ok, `${fx(x)}x raw; ${fx(swb)} s vs best peer ${fx(bestTime('smallw'))} s`);
  }
  const sw = time('smallw', 's3mount');
  if (sw !== undefined) add('1,000 small creates until in S3, default mode: faster than s3fs', fasterThan('smallw', 's3mount', time('smallw', 's3fs') ?? Infinity), `${fx(sw)} s vs s3fs ${fx(time('smallw', 's3fs'))} s`);
  const sr = time('smallr', 's3mount');
  if (sr !== undefined) {
    const x = timeRatio('smallr', 's3mount');
    add('read back 1,000 small files: >= 0.8x raw and faster than every peer', x === undefined ? undefined : x >= 0.8 && fasterThan('smallr', 's3mount', bestTime('smallr')) === true, `${fx(x)}x raw; ${fx(sr)} s vs best peer ${fx(bestTime('smallr'))} s`);
  }
  const fd = time('find', 's3mount');
  if (fd !== undefined) { const raw = time('find', 'raw'); add('find over 1,000 dirs <= 2x the raw recursive listing', raw ? fd <= 2 * raw : undefined, `${raw ? (fd / raw).toFixed(2) : '?'}x raw time`); }
  const rr2 = results.reread?.s3mount;
  if (rr2?.value !== undefined) {
    const disk = v('reread', 'raw');
    const mib = Number(/([\d.]+) MiB from S3/.exec(rr2.note ?? '')?.[1]);
    add('re-read 1 GiB after a remount (--cache-dir) >= 0.8x the local disk, < 5 MiB from S3', disk ? rr2.value >= 0.8 * disk && mib < 5 : undefined, `${disk ? (rr2.value / disk).toFixed(2) : '?'}x the disk; ${Number.isNaN(mib) ? '?' : mib} MiB from S3`);
  }
  for (const id of ['rand1', 'rand8']) {
    const me = v(id, 's3mount');
    const best = Math.max(...peers.map((p) => v(id, p) ?? -1));
    if (me !== undefined) add(`random 4 KiB reads (${id === 'rand1' ? '1 job' : '8 jobs'}) >= best peer's IOPS`, best < 0 ? undefined : me >= best, `${Math.round(me)} vs ${best < 0 ? '?' : Math.round(best)} IOPS`);
  }
  const big = bigdirTarget(v, 512, rss.ls100k?.s3mount);
  if (big) add(...big);
  const peak = Math.max(0, ...Object.values(rss).map((w) => Math.max(w.s3mount ?? 0, w['s3mount-wb'] ?? 0)));
  BYTES.targets(v, add);
  if (peak) add('s3mount peak RSS <= 512 MiB + 100 MiB', peak <= 612 * MiB, `${mib(peak)} MiB`);
  return ['| target | status | s3mount |', '|---|---|---|', ...out].join('\n');
}

function versions() {
  let rev = 'unknown';
  try {
    rev = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).toString().trim();
    if (execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'bin', 'package.json']).toString().trim()) rev += ' + uncommitted changes in src/';
  } catch {}
  const cpu = cpus()[0]?.model ?? '?';
  return [
    `- s3mount: git ${rev}`,
    `- node: ${process.version}`,
    `- s3fs: ${firstLine('s3fs', ['--version'])}`,
    `- rclone: ${firstLine('rclone', ['version'])}`,
    `- fio: ${firstLine('fio', ['--version'])}`,
    `- server: ${server.kind === 'rgw' ? `Ceph RGW (test/fixtures/ceph-rgw, memstore OSD), ${firstLine('ceph', ['--version'])}` : server.kind === 's3rver' ? 's3rver 3.7.1 (test/fixtures/s3rver-server.mjs)' : `${server.endpoint} (from S3_ENDPOINT)`}`,
    `- machine: ${cpus().length} CPUs (nproc ${firstLine('nproc', [])}; ${cpu}), ${(totalmem() / GiB).toFixed(1)} GiB RAM, Linux ${release()}`,
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; load average before the run ${LOAD0.map((x) => x.toFixed(2)).join(' ')} (other work on the machine skews the figures)`,
  ].join('\n');
}

function method() {
  return [
    `Every measurement: \`sync; echo 3 > /proc/sys/vm/drop_caches\`, a fresh mount on an empty directory, the workload, unmount. Each workload runs ${REPEAT} time${REPEAT > 1 ? 's' : ''} for every tool, the tools in a different order each time (the order rotates by one tool every round and every workload, so that no tool always goes first); a figure is the median of its samples (all samples are listed below the chart). CPU seconds are medians too; peak RSS is the maximum.`,
    `Ratios are to raw, higher is better: tool/raw for MB/s and IOPS, raw time/tool time for seconds. MB = 10^6 bytes.`,
    '',
    `- **s3mount**: \`bin/s3mount.js BUCKET MNT --endpoint URL -f --staging-dir TMP --log-level info${opt.s3mountArgs.length ? ' ' + opt.s3mountArgs.join(' ') : ''}\` (defaults: close() returns when the object is in S3). **s3mount-wb**: the same plus \`--write-back\`, only for the write workloads.`,
    `- **s3fs**: \`s3fs BUCKET MNT -f -o url=URL,use_path_request_style,passwd_file=FILE,tmpdir=TMP,${S3FS_OPTS.join(',')}\` (complement_stat: directories that exist only as prefixes get proper modes; enable_noobj_cache: fewer HEADs for names that do not exist).`,
    `- **rclone**: \`rclone mount bench:BUCKET MNT --cache-dir TMP ${RCLONE_OPTS.join(' ')}\` with the remote configured by RCLONE_CONFIG_BENCH_* (type s3, provider ${server.kind === 'rgw' ? 'Ceph' : 'Other'}). \`--vfs-cache-mode writes\` is needed for ordinary writes; \`--vfs-write-back 0s\` starts uploads at close; \`--use-server-modtime\` shows LastModified as s3mount does (otherwise rclone sends a HEAD per file to read its mtime metadata for \`ls -l\`).`,
    `- **raw**: @aws-sdk/client-s3 in one node process (scripts/lib/bench-raw.mjs): sequential read = 8 MiB ranged GETs, 8 in flight (4-16 measured about the same here); 8 readers = the same with 1 in flight per reader (8 in all); write = lib-storage Upload, 8 MiB parts, queueSize 8; random reads = 1 or 8 workers each doing one 4 KiB ranged GET at a time; ls = ListObjectsV2 pages (1,000 keys) of the prefix with delimiter "/"; find = ListObjectsV2 pages of the whole tree/ prefix without delimiter (one listing for all directories); small files = PutObject / ListObjectsV2 + GetObject, 32 in flight.`,
    `- Reads use \`dd bs=1M of=/dev/null\` (8 at once for the concurrent readers), random reads \`fio --ioengine=psync --direct=0 --rw=randread --bs=4k --time_based --runtime=${SIZES.fio} --numjobs=1|8 --randrepeat=0\` on a ${fmtSize(SIZES.rand)} object, writes \`dd if=<random file in /dev/shm> bs=1M\`, small files \`cp -r\` of a local directory (one process) and \`cat DIR/* | sha256sum\` on a fresh mount. "Until in S3": timed until a HEAD (a listing for small files) shows the object(s) with the right size; for tools whose close() returns earlier the time close returned is noted.`,
    `- Checked on every run: byte counts, SHA-256 of what is read through the mounts (after the timed part) and of written objects as stored in S3, file and path counts of ls/find.`,
    `- Peak RSS: VmHWM of the daemon (raw: of its node process) just before unmount; the max over the workload's mounts.`,
    `- CPU seconds: utime + stime of the daemon from /proc/PID/stat just before unmount (raw: process.cpuUsage() of its node process), so including start-up (about 1 s for s3mount, 0.3 s for raw).`,
  ].join('\n');
}


function chart(tools, rows, png) {
  const peers = tools.filter((t) => t !== 'raw');
  const rowsWith = rows.filter((r) => peers.some((t) => ratio(r, t) !== undefined));
  if (!rowsWith.length || !which('gnuplot')) return false;
  const dat = join(WORK, 'chart.dat');
  const lines = [`# label ${peers.join(' ')}`];
  const all = rowsWith.flatMap((r) => peers.map((t) => ratio(r, t))).filter((x) => x > 0);
  const ymin = Math.min(0.1, ...all.map((x) => x / 2.5));
  const ymax = Math.max(2.5, ...all.map((x) => x * 4));
  for (const r of rowsWith) lines.push(`"${r.chart}" ${peers.map((t) => { const x = ratio(r, t); return x === undefined ? 'NaN' : x.toPrecision(4); }).join(' ')}`);
  writeFileSync(dat, lines.join('\n') + '\n');
  const colors = { s3mount: '#1f77b4', 's3mount-wb': '#6baed6', s3fs: '#d62728', rclone: '#2ca02c' };
  const n = peers.length;
  const w = 1 / (n + 1.5);
  const plots = peers.map((t, j) => `'${dat}' using ${j + 2}:xtic(1) title '${t}' lc rgb '${colors[t] ?? '#888888'}'`);
  const labels = peers.map((t, j) => `'${dat}' using ($0 + ${((j - (n - 1) / 2) * w).toFixed(4)}):(column(${j + 2})):(sprintf(column(${j + 2}) >= 10 ? '%.0f' : column(${j + 2}) >= 0.1 ? '%.2f' : '%.3f', column(${j + 2}))) with labels rotate by 90 left offset 0,0.3 font ',8' notitle`);
  const gp = `
set terminal pngcairo size 1400,650 font 'DejaVu Sans,11'
set output '${png}'
set title "${opt.latency ? `+${opt.latency} ms round trip: ` : ''}throughput / speed relative to raw SDK (1.0 = raw; higher is better; log scale)"
set style data histograms
set style histogram clustered gap 1.5
set style fill solid 0.9 border -1
set boxwidth 1
set logscale y
set yrange [${ymin}:${ymax}]
set ytics ('0.001' 0.001, '0.01' 0.01, '0.02' 0.02, '0.05' 0.05, '0.1' 0.1, '0.2' 0.2, '0.5' 0.5, '1' 1, '2' 2, '5' 5, '10' 10, '100' 100, '1000' 1000)
set grid ytics
set key top right
set xtics nomirror
set arrow from graph 0, first 1 to graph 1, first 1 nohead back lc rgb '#000000' dt 2 lw 1.5
plot ${[...plots, ...labels].join(', \\\n  ')}
`;
  writeFileSync(join(WORK, 'chart.gp'), gp);
  try { execFileSync('gnuplot', [join(WORK, 'chart.gp')], { stdio: ['ignore', 'pipe', 'pipe'] }); } catch (e) { log(`gnuplot failed: ${e.stderr}`); return false; }
  return existsSync(png);
}

function replaceSection(file, name, content, intro) {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : intro;
  const block = `${begin}\n${content.trim()}\n${end}`;
  const i = text.indexOf(begin);
  const k = text.indexOf(end);
  if (i >= 0 && k > i) text = text.slice(0, i) + block + text.slice(k + end.length);
  else text = text.trimEnd() + '\n\n' + block + '\n';
  writeFileSync(file, text);
}

const DOC_INTRO = `# Performance

How s3mount compares with s3fs-fuse, rclone mount and the AWS SDK used directly ("raw",
the practical ceiling for anything that talks S3), on one machine against a local Ceph
RGW. Everything between the \`bench\` markers below is written by \`scripts/bench\`; edit
the prose outside them.

Reproduce: \`scripts/bench\` (about an hour; installs what it needs with
\`scripts/setup --bench\`), \`scripts/bench --latency 10\` for a server 10 ms away,
\`scripts/bench --smoke\` for a one-minute check that every tool and workload still works.
\`scripts/bench --help\` lists the options.
`;

// ---------------------------------------------------------------- main
async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    for (const h of [...mounts]) await unmount(h).catch(() => {});
    if (proxy) await stopChild(proxy.child, 5);
    try { s3?.destroy(); } catch {}
    await server.stop().catch((e) => log(`stopping the server: ${e.message}`));
    for (const c of [...children]) { try { process.kill(-c.pid, 'SIGKILL'); } catch {} try { c.kill('SIGKILL'); } catch {} }
    rmSync(SHM, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { log(`${sig}: cleaning up`); cleanup().finally(() => process.exit(130)); });

async function main() {
  const t0 = Date.now();
  const wanted = opt.only ?? WORKLOADS;
  for (const w of wanted) if (!WORKLOADS.includes(w)) die(`unknown workload ${w} (one of ${WORKLOADS.join(', ')})`);
  const skipTool = {};
  let tools = opt.tools ?? TOOL_ORDER;
  for (const t of tools) if (!TOOL_ORDER.includes(t)) die(`unknown tool ${t} (one of ${TOOL_ORDER.join(', ')})`);
  for (const t of ['s3fs', 'rclone']) if (tools.includes(t) && !which(t)) {
    if (!SMOKE && !opt.tools) die(`${t} is not installed: scripts/setup --bench installs it (or pass --tools)`);
    log(`${t} is not installed: left out`);
    tools = tools.filter((x) => x !== t);
  }
  tools = TOOL_ORDER.filter((t) => tools.includes(t));
  const workloads = WORKLOADS.filter((w) => wanted.includes(w));
  const rows = ROWS.filter((r) => workloads.includes(r.wl));
  await startServer();
  const writeDocs = opt.docs ?? (!SMOKE && !opt.only && !opt.tools && server.kind !== 'env');
  const resultsDir = opt.results ? resolve(opt.results) : mkdtempSync('/tmp/s3bench-results.');
  mkdirSync(resultsDir, { recursive: true });
  s3 = client(server.endpoint);
  toolEndpoint = server.endpoint;
  if (opt.latency) await startProxy(), (toolEndpoint = proxy.endpoint);
  await prepare(workloads);

  // The first measurement of a workload was often the slowest of its tool's samples here
  // (sequential read: 214 MB/s, then 421 and 330): the order rotates every round and
  // every workload, so that no tool always takes that place.
  let turn = 0;
  for (const wl of workloads) {
   for (let round = 0; round < REPEAT; round++, turn++) {
    const order = tools.map((_, i) => tools[(i + turn) % tools.length]);
    for (const tool of order) {
      if (cleaning) return 130;
      if (tool === 's3mount-wb' && !WRITE_WORKLOADS.includes(wl)) continue;
      const t = Date.now();
      log(`${wl} / ${tool}${REPEAT > 1 ? ` (run ${round + 1} of ${REPEAT})` : ''} ...`);
      try { await W[wl](tool); } catch (e) { fail(ROWS.find((r) => r.wl === wl).id, tool, e); }
      const got = ROWS.filter((r) => r.wl === wl).map((r) => { const x = results[r.id]?.[tool]; return x?.value !== undefined ? `${fmtVal(x.samples.at(-1), r.unit)} ${r.unit}` : x?.error ? 'ERROR' : x?.skip ? 'skipped' : '-'; });
      log(`${wl} / ${tool}: ${got.join(', ')} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    }
   }
   await BYTES.after(wl);
  }
  // s3mount-wb does reads only in the small-file workload: its other cells say so
  const shownTools = tools;
  for (const row of rows) if (shownTools.includes('s3mount-wb') && !WRITE_WORKLOADS.includes(row.wl)) setResult(row.id, 's3mount-wb', { skip: 'same as s3mount (reads)' });

  const table = markdown(shownTools, rows);
  const title = opt.latency ? `Results with ${opt.latency} ms added round-trip time (delay proxy)` : 'Results';
  const png = join(resultsDir, opt.latency ? 'bench-latency.png' : 'bench.png');
  const charted = chart(shownTools, rows, png);
  const command = opt.command;
  const section = [
    `## ${title}`,
    '',
    `Command: \`${command}\`${server.kind === 'rgw' && !SMOKE ? ` (RGW store ${process.env.CEPH_RGW_STORE_MB ?? 12000} MB)` : ''}; total ${((Date.now() - t0) / 60000).toFixed(1)} min.${opt.latency ? ` All tools (raw too) reach the server through a TCP proxy on loopback (scripts/lib/bench-proxy.mjs) that delays every chunk by ${opt.latency / 2} ms in each direction.` : ''}`,
    '',
    versions(),
    '',
    '### Figures (ratio to raw; higher is better)',
    '',
    table,
    '',
    charted && !opt.latency ? '![ratio to raw per workload](bench.png)\n' : '',
    '### Targets',
    '',
    targets(),
    '',
    `### Samples (in the order they were taken; the figures above are their medians)`,
    '',
    samplesTable(shownTools, rows),
    '',
    '### Peak RSS per workload (MiB, VmHWM)',
    '',
    rssTable(shownTools),
    '',
    '### CPU seconds used by each daemon (raw: its node process), start-up included',
    '',
    cpuTable(shownTools, rows),
    '',
    '### S3 requests sent by s3mount (from its exit log line)',
    '',
    requestTable(rows),
    '',
    '### How it was measured',
    '',
    method(),
  ].join('\n');
  writeFileSync(join(resultsDir, 'results.md'), section + '\n');
  writeFileSync(join(resultsDir, 'results.json'), JSON.stringify({ sizes: SIZES, latency: opt.latency, results, rss, cpu, requests }, null, 2));
  process.stdout.write(`\n${section}\n\n`);
  if (writeDocs) {
    const doc = join(ROOT, 'docs/PERFORMANCE.md');
    replaceSection(doc, opt.latency ? `bench-latency` : 'bench', section, DOC_INTRO);
    if (charted && !opt.latency) writeFileSync(join(ROOT, 'docs/bench.png'), readFileSync(png));
    log(`wrote docs/PERFORMANCE.md${charted && !opt.latency ? ' and docs/bench.png' : ''}`);
  }
  log(`results in ${resultsDir}${charted ? ` (chart ${png})` : ''}`);
  log(`${failures ? `${failures} measurement(s) FAILED` : 'all measurements OK'}; ${((Date.now() - t0) / 60000).toFixed(1)} min`);
  // one closing line that CI runners read as a test count
  const cells = Object.values(results).flatMap((r) => Object.values(r));
  process.stdout.write(`bench: ${cells.filter((c) => c.value !== undefined).length} passed, ${cells.filter((c) => c.error).length} failed\n`);
  return failures ? 1 : 0;
}

let code = 1;
try { code = await main(); } catch (e) { log(`fatal: ${e.stack ?? e}`); code = 1; }
await cleanup();
process.exit(code);
