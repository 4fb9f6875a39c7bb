// scripts/lib/bench-bytes.mjs: the workloads of scripts/bench about bytes fetched from the
// server, each tool reaching it through a counting proxy (bench-proxy.mjs with no delay)
// so that what the server sent is counted the same way for every tool, peers and raw too:
//   fanin    8 processes `cat` one object at once on one mount (aggregate MB/s; the
//            server's bytes / the object's size)
//   bigrand  fio 4 KiB random reads of the 1 GiB object (larger than s3mount's default
//            memory budget), 1 and 8 jobs: with each tool's defaults, and with its local
//            disk cache (s3mount --cache-dir, s3fs use_cache, rclone --vfs-cache-mode full)
// bench.mjs registers them (bytesWorkloads) and hands over its helpers (ctx).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statfsSync } from 'node:fs';
import { basename, join } from 'node:path';

const MiB = 1024 * 1024;
const MB = 1e6;

/** Rows of the result table for these workloads (same shape as bench.mjs's ROWS). */
export function bytesRows({ SMOKE, fmtSize, seqBytes }) {
  const fanin = fmtSize(faninBytes(SMOKE));
  const big = fmtSize(seqBytes);
  return [
    { id: 'fanin', wl: 'fanin', label: `8 processes reading one ${fanin} object at once (MB/s, aggregate)`, unit: 'MB/s', better: 'higher', chart: 'fan-in' },
    { id: 'faninBytes', wl: 'fanin', label: `Fan-in: bytes the server sent / object size`, unit: 'x', better: 'lower', chart: 'fan-in bytes' },
    { id: 'big1', wl: 'bigrand', label: `Random 4 KiB reads of a ${big} object, 1 job (IOPS)`, unit: 'IOPS', better: 'higher', chart: `rand ${big} x1` },
    { id: 'big8', wl: 'bigrand', label: `Random 4 KiB reads of a ${big} object, 8 jobs (IOPS)`, unit: 'IOPS', better: 'higher', chart: `rand ${big} x8` },
    { id: 'big1d', wl: 'bigrand', label: `... with a local disk cache, 1 job (IOPS; s3mount --cache-dir, s3fs use_cache, rclone --vfs-cache-mode full)`, unit: 'IOPS', better: 'higher', chart: `rand ${big} disk x1` },
    { id: 'big8d', wl: 'bigrand', label: `... with a local disk cache, 8 jobs (IOPS)`, unit: 'IOPS', better: 'higher', chart: `rand ${big} disk x8` },
    { id: 'big1dr', wl: 'bigrand', label: `... the disk cache filled by the run above, after a remount, page cache dropped, 1 job (IOPS)`, unit: 'IOPS', better: 'higher', chart: `rand ${big} disk again x1` },
  ];
}

const faninBytes = (smoke) => (smoke ? 8 * MiB : 512 * MiB);

/**
 * The workloads, over bench.mjs's helpers: { SMOKE, fio seconds, ROOT, WORK, BUCKET,
 * seqKey, seqBytes, expectSeq(), toolEndpoint(), track, run, must, withMount,
 * setResult, noteRss, noteCpu, dropCaches, checkTimed, sha256File, which, prepareObject,
 * deleteObject, rgwGc, log }.
 */
export function bytesWorkloads(ctx) {
  let proxy; // { child, endpoint, bytes() }
  const faninKey = 'fanin/obj.bin';
  let faninSha;

  async function counting() {
    if (proxy && proxy.child.exitCode === null) return proxy;
    const child = ctx.track(spawn(process.execPath, [join(ctx.ROOT, 'scripts/lib/bench-proxy.mjs'), ctx.toolEndpoint(), '0', ctx.WORK], { stdio: ['ignore', 'pipe', 'inherit'] }), 'count-proxy');
    let buf = '';
    const waiting = [];
    child.stdout.on('data', (d) => {
      buf += d;
      let m;
      while ((m = /BYTES (\d+) (\d+)\n/.exec(buf))) {
        buf = buf.slice(m.index + m[0].length);
        waiting.shift()?.({ up: Number(m[1]), down: Number(m[2]) });
      }
    });
    const endpoint = await new Promise((res, rej) => {
      const onData = () => { const m = /READY (\S+)\n/.exec(buf); if (m) { buf = buf.slice(m.index + m[0].length); child.stdout.off('data', onData); res(m[1]); } };
      child.stdout.on('data', onData);
      child.on('exit', (c) => rej(new Error(`counting proxy exited (${c})`)));
      setTimeout(() => rej(new Error('counting proxy did not start')), 10_000);
    });
    const bytes = () => new Promise((res, rej) => {
      waiting.push(res);
      try { child.kill('SIGUSR2'); } catch (e) { rej(e); }
      setTimeout(() => rej(new Error('counting proxy did not answer')), 5000);
    });
    ctx.log(`counting proxy ${endpoint} -> ${ctx.toolEndpoint()}`);
    proxy = { child, endpoint, bytes };
    return proxy;
  }

  /** bytes the server sent while fn ran */
  async function counted(fn) {
    const p = await counting();
    const before = await p.bytes();
    const out = await fn(p.endpoint);
    const after = await p.bytes();
    return { out, down: after.down - before.down };
  }

  async function rawRun(row, args) {
    const r = await ctx.must(process.execPath, [join(ctx.ROOT, 'scripts/lib/bench-raw.mjs'), JSON.stringify({ bucket: ctx.BUCKET, ...args })]);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    ctx.noteCpu(row, 'raw', out.cpu);
    return out;
  }

  const mibOf = (b) => `${(b / MiB).toFixed(b < 10 * MiB ? 1 : 0)} MiB from the server`;

  async function fanin(tool) {
    const size = faninBytes(ctx.SMOKE);
    faninSha ??= await ctx.prepareObject(faninKey, size);
    await ctx.dropCaches();
    if (tool === 'raw') {
      // 8 independent readers, one GET of the whole object each (what 8 processes without
      // a shared cache cost the server)
      const { out: r, down } = await counted((endpoint) => rawRun('fanin', { op: 'multiread', endpoint, keys: Array(8).fill(faninKey), size, inflight: 1, hash: ctx.SMOKE }));
      if (r.bytes !== 8 * size) throw new Error(`read ${r.bytes} bytes, not ${8 * size}`);
      if (ctx.SMOKE && r.sha256s.some((s) => s !== faninSha)) throw new Error('wrong bytes read (sha256 differs)');
      ctx.noteRss('fanin', 'raw', r.rss);
      ctx.setResult('fanin', tool, { value: (8 * size) / r.seconds / MB });
      ctx.setResult('faninBytes', tool, { value: down / size, note: mibOf(down) });
      return;
    }
    const p = await counting();
    await ctx.withMount(tool, 'fanin', 'fanin', async (h) => {
      const f = join(h.mnt, faninKey);
      const before = await p.bytes();
      const t0 = process.hrtime.bigint();
      const rs = await Promise.all(Array.from({ length: 8 }, () => ctx.run('cat', [f], { capture: false })));
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const down = (await p.bytes()).down - before.down;
      rs.forEach((r) => ctx.checkTimed(r, 'cat'));
      ctx.setResult('fanin', tool, { value: (8 * size) / secs / MB });
      ctx.setResult('faninBytes', tool, { value: down / size, note: mibOf(down) });
      return { afterRss: async () => { if ((await ctx.sha256File(f)) !== faninSha) throw new Error('wrong bytes read (sha256 differs)'); } };
    }, [], p.endpoint);
  }

  /** each tool's own local disk cache */
  const diskArgs = (tool, dir) => (tool === 's3mount' ? ['--cache-dir', dir, '--cache-dir-size', `${4 * ctx.seqBytes}`]
    : tool === 's3fs' ? ['-o', `use_cache=${dir}`]
    : tool === 'rclone' ? ['--vfs-cache-mode', 'full', '--cache-dir', dir] : []);

  /**
   * A used cache directory is moved aside, removed with the rest at the bench's end (or at
   * once when the disk runs short): on ext4 without a journal (this machine's root disk)
   * files created within 60 s of many deletions each scan the recently deleted inodes
   * (4,096 creations: 2.2 s in open() right after removing 4,096 files, 0.12 s otherwise),
   * which would charge one run's cleanup to the next run's cache fill.
   */
  async function discard(dir) {
    if (!existsSync(dir)) return;
    const fs = statfsSync(ctx.WORK);
    if (fs.bavail * fs.bsize < 8 * ctx.seqBytes) return ctx.run('rm', ['-rf', dir]);
    const trash = join(ctx.WORK, 'trash');
    mkdirSync(trash, { recursive: true });
    renameSync(dir, join(trash, `${Date.now()}-${basename(dir)}`));
  }

  async function bigrand(tool) {
    const size = ctx.seqBytes;
    for (const disk of [false, true]) {
      for (const jobs of [1, 8]) {
        const row = `big${jobs}${disk ? 'd' : ''}`;
        try {
          if (tool === 'raw') {
            if (disk) { ctx.setResult(row, tool, { skip: 'no cache: see the row above' }); continue; }
            await ctx.dropCaches();
            const { out: r, down } = await counted((endpoint) => rawRun(row, { op: 'randread', endpoint, key: ctx.seqKey, size, jobs, runtime: ctx.fio }));
            ctx.noteRss('bigrand', 'raw', r.rss);
            ctx.setResult(row, tool, { value: r.iops, note: mibOf(down) });
            continue;
          }
          if (!ctx.which('fio')) { ctx.setResult(row, tool, { skip: 'fio not installed' }); continue; }
          const p = await counting();
          const cacheDir = join(ctx.WORK, `bigrand-cache-${tool}`);
          await discard(cacheDir);
          if (disk) await ctx.run('mkdir', ['-p', cacheDir]);
          const fio = (r) => async (h) => {
            const before = await p.bytes();
            const res = await ctx.run('fio', ['--name=bigrand', `--filename=${join(h.mnt, ctx.seqKey)}`, '--readonly', '--ioengine=psync', '--direct=0',
              '--rw=randread', '--bs=4k', `--size=${size}`, `--runtime=${ctx.fio}`, '--time_based', `--numjobs=${jobs}`, '--group_reporting',
              '--randrepeat=0', '--output-format=json'], { timeout: ctx.fio + 180 });
            const down = (await p.bytes()).down - before.down;
            ctx.checkTimed(res, 'fio');
            const j = JSON.parse(res.stdout.slice(res.stdout.indexOf('{')));
            const job = j.jobs[0];
            if (job.error) throw new Error(`fio error ${job.error}`);
            if (!(job.read.total_ios > 0)) throw new Error('fio did no reads');
            ctx.setResult(r, tool, { value: job.read.iops, note: `${mibOf(down)}, ${Math.round(job.read.total_ios).toLocaleString('en-US')} reads` });
          };
          try {
            await ctx.withMount(tool, 'bigrand', row, fio(row), disk ? diskArgs(tool, cacheDir) : [], p.endpoint);
            // the same once the cache holds what the run above fetched: a remount (the job
            // after the first on a node), the page cache dropped: what bounds a page-cache miss
            if (disk && jobs === 1) {
              await ctx.withMount(tool, 'bigrand', 'big1dr', fio('big1dr'), diskArgs(tool, cacheDir), p.endpoint);
            }
          } finally {
            await discard(cacheDir);
          }
        } catch (e) { ctx.fail(row, tool, e); }
      }
    }
  }

  /** after every run of a workload: its own object goes (RGW keeps objects in RAM) */
  async function after(wl) {
    if (wl === 'fanin' && faninSha) {
      await ctx.deleteObject(faninKey).catch(() => {});
      faninSha = undefined;
      await ctx.rgwGc();
    }
  }

  /** target lines for bench.mjs's targets(): add(name, ok, detail) */
  function targets(v, add) {
    const peers = ['s3fs', 'rclone'];
    const best = (row) => Math.max(...peers.map((p) => v(row, p) ?? -1));
    const me = v('fanin', 's3mount');
    const sent = v('faninBytes', 's3mount');
    if (me !== undefined) {
      const b = best('fanin');
      add('fan-in: the server sends the object once (<= 1.1x its size)', sent === undefined ? undefined : sent <= 1.1, `${sent === undefined ? '?' : sent.toFixed(2)}x`);
      add("fan-in: aggregate rate >= best peer's", b < 0 ? undefined : me >= b, `${Math.round(me)} vs ${b < 0 ? '?' : Math.round(b)} MB/s`);
    }
    for (const row of ['big1', 'big8', 'big1d', 'big8d']) {
      const x = v(row, 's3mount');
      if (x === undefined) continue;
      const base = row.replace(/d$/, '');
      const b = Math.max(best(base), best(`${base}d`));
      add(`random 4 KiB reads of the ${(ctx.seqBytes / MiB / 1024).toFixed(0)} GiB object (${row.includes('1') ? '1 job' : '8 jobs'}${row.endsWith('d') ? ', --cache-dir' : ''}) >= best peer's IOPS (either mode)`, b < 0 ? undefined : x >= b, `${Math.round(x)} vs ${b < 0 ? '?' : Math.round(b)} IOPS`);
    }
  }

  return { workloads: { fanin, bigrand }, after, targets };
}
