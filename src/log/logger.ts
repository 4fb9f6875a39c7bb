// Logger: leveled, line-oriented, with per-module children and secret redaction.
// The one place that writes diagnostics; built in daemon.ts and passed down (no global).
import { format } from 'node:util';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogSink {
  write(line: string): void;
}

export type LogFields = Record<string, unknown>;

/** Replaces every registered secret (and Authorization headers) with a placeholder. */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string | undefined): void {
    // very short strings would redact ordinary words; real keys are long
    if (secret !== undefined && secret.length >= 8) this.secrets.add(secret);
  }

  redact(text: string): string {
    let out = text.replace(
      /(authorization|x-amz-security-token|x-amz-signature|signature)([=:"\s]+)[^\s,"&]+/gi,
      '$1$2[redacted]',
    );
    for (const s of this.secrets) out = out.split(s).join('[redacted]');
    return out;
  }
}

export class Logger {
  private readonly threshold: number;

  constructor(
    private readonly sink: LogSink,
    readonly level: LogLevel,
    private readonly redactor: Redactor,
    private readonly fields: LogFields = {},
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  child(fields: LogFields): Logger {
    return new Logger(this.sink, this.level, this.redactor, { ...this.fields, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.threshold;
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const all = { ...this.fields, ...fields };
    const parts = Object.entries(all).map(
      ([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : format('%o', v)}`,
    );
    const line = `${new Date().toISOString()} ${level.toUpperCase()} ${msg}${parts.length ? ' ' + parts.join(' ') : ''}`;
    this.sink.write(this.redactor.redact(line) + '\n');
  }
}

export function nullLogger(): Logger {
  return new Logger({ write: () => undefined }, 'error', new Redactor());
}
