import t from 'tap';
import { resolveConfig } from '../../../src/config/config.js';
import { parseBucketSpec, parseBytes, parseMode, parseSeconds } from '../../../src/config/parse.js';

t.test('value parsers', async (t) => {
  t.equal(parseBytes('x', '4096'), 4096);
  t.equal(parseBytes('x', '64M'), 64 * 1024 * 1024);
  t.equal(parseBytes('x', '1.5GiB'), 1.5 * 1024 ** 3);
  t.throws(() => parseBytes('cache-size', 'lots'), /--cache-size: "lots" is not a size/);
  t.equal(parseSeconds('x', '0.5'), 500);
  t.throws(() => parseSeconds('x', '-1'));
  t.equal(parseMode('x', '0640'), 0o640);
  t.throws(() => parseMode('x', '999'));
  t.same(parseBucketSpec('b'), { bucket: 'b', prefix: '' });
  t.same(parseBucketSpec('b:run42'), { bucket: 'b', prefix: 'run42/' });
  t.same(parseBucketSpec('b:/a/b/'), { bucket: 'b', prefix: 'a/b/' });
  t.throws(() => parseBucketSpec('bad bucket'));
});

t.test('flags > env > defaults; path-style follows the endpoint', async (t) => {
  const c1 = resolveConfig('b', '/mnt', {}, {});
  t.equal(c1.region, 'us-east-1');
  t.equal(c1.pathStyle, false, 'AWS default: virtual-hosted');
  t.equal(c1.metadataTtlMs, 30_000);
  const c2 = resolveConfig(
    'b',
    '/mnt',
    { region: 'flag' },
    { AWS_REGION: 'env', AWS_ENDPOINT_URL: 'http://h:1' },
  );
  t.equal(c2.region, 'flag', 'flag wins over env');
  t.equal(c2.endpoint, 'http://h:1', 'endpoint from AWS_ENDPOINT_URL');
  t.equal(c2.pathStyle, true, 'custom endpoint: path-style');
  const c3 = resolveConfig('b', '/mnt', { endpoint: 'http://h:1', 'path-style': false }, {});
  t.equal(c3.pathStyle, false, '--no-path-style');
  t.equal(c1.native, true, 'the native fast paths are on by default');
  t.equal(resolveConfig('b', '/mnt', { native: false }, {}).native, false, '--no-native');
  t.throws(() => resolveConfig('b', '/mnt', { endpoint: 'ftp://x' }, {}), /must start with http/);
  t.throws(() => resolveConfig('b', '/mnt', { 'log-level': 'loud' }, {}), /log-level/);
});

t.test('one memory budget', async (t) => {
  const { planMemory } = await import('../../../src/daemon.js');
  const c = resolveConfig('b', '/mnt', {}, {});
  t.equal(c.memoryLimitBytes, 512 * 1024 * 1024);
  t.equal(c.cacheBytes, 256 * 1024 * 1024, 'cache: half the limit by default');
  const plan = planMemory(c);
  t.equal(plan.getSlots, 8, 'prefetch GETs in flight: at most 8, though 128 MiB would hold 16 of 8 MiB');
  t.equal(
    planMemory({ ...c, memoryLimitBytes: 64 * 1024 * 1024 }).getSlots,
    2,
    'a small budget holds fewer (16 MiB of 8 MiB GETs)',
  );
  t.equal(plan.partSlots, 16, '128 MiB of 8 MiB parts in flight');
  t.equal(resolveConfig('b', '/mnt', { 'memory-limit': '1G' }, {}).cacheBytes, 512 * 1024 * 1024);
  t.throws(
    () => resolveConfig('b', '/mnt', { 'memory-limit': '128M', 'cache-size': '256M' }, {}),
    /cannot exceed/,
  );
});
