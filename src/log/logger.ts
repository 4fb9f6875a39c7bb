// Logger: leveled JSON lines on pino (one line per event), per-module children, secrets
// redacted. The one place that writes diagnostics; built in cli/ and passed down (no global).
import { pino, stdTimeFunctions, type Logger as Pino } from 'pino';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogSink {
  write(line: string): void;
}

export type LogFields = Record<string, unknown>;

/** Field paths pino's redaction censors wherever they occur in a log line's object. */
const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  '*.authorization',
  '*.headers.authorization',
  'secretAccessKey',
  '*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'password',
  '*.password',
];
const CENSOR = '[redacted]';

/**
 * Removes secrets that appear inside text (an error message quoting a header, a URL with a
 * signature): every registered secret value and Authorization-like parameters. pino's path
 * redaction covers fields by name; this covers values, on each finished line.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string | undefined): void {
    // very short strings would redact ordinary words; real keys are long
    if (secret !== undefined && secret.length >= 8) this.secrets.add(secret);
  }

  redact(text: string): string {
    let out = text.replace(
      /(authorization|x-amz-security-token|x-amz-signature|signature)([=:"\s\\]+)[^\s,"&\\]+/gi,
      `$1$2${CENSOR}`,
    );
    for (const s of this.secrets) out = out.split(s).join(CENSOR);
    return out;
  }
}

export class Logger {
  private constructor(
    private readonly p: Pino,
    readonly level: LogLevel,
  ) {}

  /** A root logger writing JSON lines to `sink` at `level` and above. */
  static create(sink: LogSink, level: LogLevel, redactor: Redactor, fields: LogFields = {}): Logger {
    const p = pino(
      {
        level,
        base: undefined, // no pid and hostname on every line
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: REDACT_PATHS, censor: CENSOR },
        hooks: { streamWrite: (line) => redactor.redact(line) },
      },
      sink,
    );
    return new Logger(Object.keys(fields).length > 0 ? p.child(fields) : p, level);
  }

  child(fields: LogFields): Logger {
    return new Logger(this.p.child(fields), this.level);
  }

  enabled(level: LogLevel): boolean {
    return this.p.isLevelEnabled(level);
  }

  error(msg: string, fields?: LogFields): void {
    this.p.error(fields ?? {}, msg);
  }
  warn(msg: string, fields?: LogFields): void {
    this.p.warn(fields ?? {}, msg);
  }
  info(msg: string, fields?: LogFields): void {
    this.p.info(fields ?? {}, msg);
  }
  debug(msg: string, fields?: LogFields): void {
    this.p.debug(fields ?? {}, msg);
  }
}

export function nullLogger(): Logger {
  return Logger.create({ write: () => undefined }, 'error', new Redactor());
}
