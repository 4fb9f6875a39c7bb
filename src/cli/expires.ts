// The DURATION of `s3mount share --expires`: whole seconds ("3600", "90s"), minutes
// ("30m"), hours ("12h") or days ("7d"), from 1 second to SigV4's limit of 7 days.
import { SHARE_EXPIRES_MAX_SEC } from '../control/protocol.js';

/** A link lives an hour unless asked otherwise (as boto's `generate_url(3600)` in scripts). */
export const SHARE_EXPIRES_DEFAULT_SEC = 3600;

const UNIT_SEC: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds for a DURATION, or a one-line reason why it is not one. */
export function parseExpires(text: string): { seconds: number } | { error: string } {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  const unit = m ? UNIT_SEC[m[2] ?? ''] : undefined;
  if (!m || unit === undefined)
    return {
      error: `--expires ${JSON.stringify(text)} is not a duration: give whole seconds, or a number with s, m, h or d (3600, 90s, 30m, 12h, 7d)`,
    };
  const seconds = Number(m[1]) * unit;
  if (seconds === 0) return { error: `--expires ${text}: a link must be valid for at least 1 second` };
  if (seconds > SHARE_EXPIRES_MAX_SEC)
    return {
      error: `--expires ${text} is longer than 7 days (${SHARE_EXPIRES_MAX_SEC} s), the longest a presigned URL can be valid (SigV4)`,
    };
  return { seconds };
}
