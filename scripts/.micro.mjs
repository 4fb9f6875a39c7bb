const wt = process.argv[2] ?? '/work/wt-smallfiles';
const { SdkObjectStore } = await import(`${wt}/dist/s3/sdk-store.js`);
const { RefreshingCredentials } = await import(`${wt}/dist/s3/credential-refresh.js`);
const { S3RetryStrategy } = await import(`${wt}/dist/s3/retry.js`);
const { AdaptiveRateLimiter } = await import(`${wt}/dist/s3/rate.js`);
const { systemClock } = await import(`${wt}/dist/util/clock.js`);
const creds = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
const source = { describe: 'env', load: async () => creds, name: 'env' };
const store = new SdkObjectStore({ bucket: 'sfbench', endpoint: process.env.S3_ENDPOINT, region: 'us-east-1', pathStyle: true,
  credentials: new RefreshingCredentials(source, () => {}), requestDeadlineMs: 60000, connectTimeoutMs: 5000, idleTimeoutMs: 20000, maxSockets: 40,
  retry: new S3RetryStrategy({ limiter: new AdaptiveRateLimiter(systemClock), clock: systemClock }) });
const keys = []; let tok;
do { const p = await store.list({ prefix: 'small/', continuationToken: tok }); keys.push(...p.objects); tok = p.nextToken; } while (tok);
const buf = Buffer.alloc(4096 * keys.length);
async function round(label, n = keys.length) {
  const c0 = process.cpuUsage(); const t0 = performance.now(); let i = 0;
  await Promise.all(Array.from({ length: 16 }, async () => { while (i < n) { const k = i++; const o = keys[k];
    let off = k * 4096, fill = 0; await store.readInto({ key: o.key, start: 0, end: o.size, etag: o.etag }, { space: () => buf.subarray(off + fill, off + 4096), filled: (m) => { fill += m; } }); } }));
  const c = process.cpuUsage(c0); console.log(`${label}: ${n} GETs ${(performance.now() - t0).toFixed(0)} ms wall, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms (user ${(c.user / 1000).toFixed(0)})`);
}
await round('warm', 200); await round('run1'); await round('run2');
store.destroy();
