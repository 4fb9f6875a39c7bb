// Value parsers for the option table's types: sizes ("256M"), durations, octal modes.
// Pure; each throws ConfigError with a message a user can act on.

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseBytes(name: string, raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(raw);
  if (!m) throw new ConfigError(`--${name}: "${raw}" is not a size (examples: 4096, 512K, 64M, 2G)`);
  const value = Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  return Math.floor(value);
}

export function parseSeconds(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new ConfigError(`--${name}: "${raw}" is not a number of seconds`);
  return Math.round(n * 1000);
}

export function parseMode(name: string, raw: string): number {
  if (!/^0?[0-7]{3,4}$/.test(raw.trim()))
    throw new ConfigError(`--${name}: "${raw}" is not an octal mode like 0644`);
  return parseInt(raw, 8) & 0o7777;
}

export function parseNumber(name: string, raw: string, min = 0): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min)
    throw new ConfigError(`--${name}: "${raw}" must be a whole number >= ${min}`);
  return n;
}

export function parseBoolean(name: string, raw: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`--${name}: "${raw}" is not true or false`);
}

/** BUCKET[:PREFIX] → bucket and a key prefix that is empty or ends in "/". */
export function parseBucketSpec(spec: string): { bucket: string; prefix: string } {
  const i = spec.indexOf(':');
  const bucket = i < 0 ? spec : spec.slice(0, i);
  let prefix = i < 0 ? '' : spec.slice(i + 1);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket)) {
    throw new ConfigError(
      `"${bucket}" is not a valid bucket name (letters, digits, '.', '-' and '_', starting with a letter or digit, at most 255)`,
    );
  }
  prefix = prefix.replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  return { bucket, prefix };
}
