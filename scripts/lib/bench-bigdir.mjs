// scripts/lib/bench-bigdir.mjs: the "ls100k" workload of scripts/bench: `ls -l` of one
// prefix holding 100,000 objects (200 with --smoke), against the raw LIST time, with the
// daemon's peak RSS. bench.mjs hands in its helpers (ctx); this file owns the rest.
import { listAll, pool, putSmall } from './bench-s3.mjs';

export const BIGDIR_PREFIX = 'bigdir/';
/** objects in the prefix: 100,000 (100 LIST pages); a few hundred for --smoke */
export const bigdirCount = (smoke) => (smoke ? 200 : 100_000);
const keyOf = (i) => `${BIGDIR_PREFIX}e-${String(i).padStart(6, '0')}`;
/** PUTs in flight while preparing: RGW on 2 cores takes ~1,000-2,000 empty PUTs a second */
const PREPARE_INFLIGHT = 128;
const EMPTY = Buffer.alloc(0);

export const bigdirRow = (smoke) => ({
  id: 'ls100k',
  wl: 'ls100k',
  label: `ls -l, ${bigdirCount(smoke).toLocaleString('en-US')} files in one directory (s)`,
  unit: 's',
  better: 'lower',
  chart: 'ls -l 100k',
});

/**
 * Empty objects, made once and kept: a later run finds them (one listing) and puts only
 * what is missing. Anything else under the prefix is an error (counts must be exact).
 */
export async function prepareBigdir({ s3, bucket, smoke, log }) {
  const n = bigdirCount(smoke);
  const t0 = Date.now();
  const have = new Set((await listAll(s3, bucket, BIGDIR_PREFIX)).map((o) => o.key));
  const keys = Array.from({ length: n }, (_, i) => keyOf(i));
  const missing = keys.filter((k) => !have.has(k));
  if (have.size > n - missing.length) throw new Error(`${BIGDIR_PREFIX} holds objects other than the benchmark's`);
  if (missing.length > 0) {
    log(`ls100k: putting ${missing.length} empty objects under ${BIGDIR_PREFIX}`);
    await pool(missing.length, PREPARE_INFLIGHT, (i) => putSmall(s3, bucket, missing[i], EMPTY));
    log(`ls100k: ${missing.length} objects put in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

/**
 * One sample of `tool`. ctx: { smoke, run, raw, withMount, setResult, noteRss, checkTimed }
 * from bench.mjs. The mounts get no extra options: the default --memory-limit applies.
 */
export async function lsBigdir(ctx, tool) {
  const n = bigdirCount(ctx.smoke);
  if (tool === 'raw') {
    const r = await ctx.raw('ls', { prefix: BIGDIR_PREFIX, row: 'ls100k' });
    if (r.count !== n) throw new Error(`listed ${r.count} objects, not ${n}`);
    ctx.noteRss('ls100k', 'raw', r.rss);
    return ctx.setResult('ls100k', tool, { value: r.seconds });
  }
  await ctx.withMount(tool, 'ls100k', 'ls100k', async (h) => {
    const dir = `${h.mnt}/${BIGDIR_PREFIX.slice(0, -1)}`;
    const r = await ctx.run('ls', ['-l', dir], { env: { ...process.env, LC_ALL: 'C' } });
    ctx.checkTimed(r, 'ls -l');
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('-'));
    if (lines.length !== n) throw new Error(`ls -l showed ${lines.length} files, not ${n}`);
    // names exact too: LC_ALL=C sorts them as the keys are numbered
    for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 100)))
      if (!lines[i].endsWith(` ${keyOf(i).slice(BIGDIR_PREFIX.length)}`)) throw new Error(`ls -l line ${i} is not ${keyOf(i)}: ${lines[i]}`);
    ctx.setResult('ls100k', tool, { value: r.seconds });
  });
}

/** The target line for the Targets table: [name, met?, detail], or undefined without s3mount's figure. */
export function bigdirTarget(v, memoryLimitMiB, rssBytes) {
  const ls = v('ls100k', 's3mount');
  if (ls === undefined) return undefined;
  const lsRaw = v('ls100k', 'raw');
  const lsS3fs = v('ls100k', 's3fs');
  const rssMiB = rssBytes === undefined ? undefined : rssBytes / 1048576;
  const met = lsRaw === undefined || lsS3fs === undefined ? undefined : ls <= 1.5 * lsRaw && lsS3fs / ls >= 5 && (rssMiB === undefined || rssMiB <= memoryLimitMiB + 100);
  return [
    'ls -l of 100k <= 1.5x raw LIST time, >= 5x faster than s3fs, peak RSS <= --memory-limit + 100 MiB',
    met,
    `${lsRaw ? (ls / lsRaw).toFixed(2) : '?'}x raw time; ${lsS3fs ? (lsS3fs / ls).toFixed(1) : '?'}x faster than s3fs; peak RSS ${rssMiB === undefined ? '?' : Math.round(rssMiB)} MiB`,
  ];
}
