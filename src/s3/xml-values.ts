// The values in S3's XML answers, decoded as the SDK's own parser does (see list-xml.ts
// for where it does not): entity and character references, CR LF, Size, LastModified,
// ETags. Pure; a value it cannot read throws NOT_UNDERSTOOD (the caller lets the SDK parse).

/** thrown by the decoders and the scanner, caught in parseListPage; a constant: no stack trace is built */
export const NOT_UNDERSTOOD = Symbol('not understood');

export function fail(): never {
  throw NOT_UNDERSTOOD;
}

const QUOTE = 0x22;
const ZERO = 0x30;
const NINE = 0x39;
/** digits in a Size: 15 always fit a double exactly */
const MAX_SIZE_DIGITS = 15;

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Removes W/ and the quotes S3 puts around ETags (CopyObject on RGW sends none). */
export function normalizeEtag(etag: string | undefined): string {
  // the same as etag.replace(/^W\//, '').replace(/^"+|"+$/g, ''), without regexes: once per listed key
  if (etag === undefined) return '';
  return stripQuotes(etag.startsWith('W/') ? etag.slice(2) : etag);
}

/** `s` without the double quotes it starts and ends with */
export function stripQuotes(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === QUOTE) start++;
  while (end > start && s.charCodeAt(end - 1) === QUOTE) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Character data as XML reads it: line ends made LF, references decoded; fails on '&' that is not a reference. */
export function decodeText(raw: string): string {
  const s = raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw;
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    out += s.slice(from, amp);
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0) fail();
    out += decodeReference(s.slice(amp + 1, semi));
    from = semi + 1;
    amp = s.indexOf('&', from);
  }
  return out + s.slice(from);
}

/** `name` is what stands between '&' and ';'. Numeric forms as long as the SDK reads them (6 hex, 7 decimal digits). */
function decodeReference(name: string): string {
  if (name.charCodeAt(0) !== 0x23 /* # */) {
    const named = Object.hasOwn(NAMED_ENTITIES, name) ? NAMED_ENTITIES[name] : undefined;
    if (named === undefined) fail();
    return named;
  }
  const hex = name.charCodeAt(1) === 0x78; /* x */
  const digits = name.slice(hex ? 2 : 1);
  if (digits.length === 0 || digits.length > (hex ? 6 : 7)) fail();
  let cp = 0;
  for (let j = 0; j < digits.length; j++) {
    const d = digitValue(digits.charCodeAt(j), hex);
    if (d < 0) fail();
    cp = cp * (hex ? 16 : 10) + d;
  }
  if (cp <= 0xffff) return String.fromCharCode(cp); // as the SDK does, lone surrogates included
  if (cp > 0x10ffff) fail();
  return String.fromCodePoint(cp);
}

function digitValue(c: number, hex: boolean): number {
  if (isDigit(c)) return c - ZERO;
  if (!hex) return -1;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** The digits s[from, to) as a number (what Number() makes of them, as the SDK does). */
export function parseSize(s: string, from: number, to: number): number {
  if (to === from || to - from > MAX_SIZE_DIGITS) fail();
  const n = number(s, from, to);
  if (n < 0) fail();
  return n;
}

/** Days from 1970-01-01 to year-month-day (proleptic Gregorian; H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

export function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE; // false for NaN (past the end)
}

/** Digits s[from, to) as a number; -1 if any is not a digit. */
function number(s: string, from: number, to: number): number {
  let n = 0;
  for (let j = from; j < to; j++) {
    const c = s.charCodeAt(j);
    if (!isDigit(c)) return -1;
    n = n * 10 + (c - ZERO);
  }
  return n;
}

/**
 * An RFC 3339 timestamp in ms since the epoch, read as the SDK reads it (@smithy/core
 * _parseRfc3339DateTimeWithOffset): YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), T and Z
 * of either case, fields range-checked but a day not checked against its month,
 * fraction rounded to ms.
 */
export function parseTimestampMs(s: string, from: number, to: number): number {
  if (to - from < 20) fail();
  const year = number(s, from, from + 4);
  const month = number(s, from + 5, from + 7);
  const day = number(s, from + 8, from + 10);
  const hours = number(s, from + 11, from + 13);
  const minutes = number(s, from + 14, from + 16);
  const seconds = number(s, from + 17, from + 19);
  const t = s.charCodeAt(from + 10) | 0x20;
  if (
    year < 0 ||
    s.charCodeAt(from + 4) !== 0x2d ||
    s.charCodeAt(from + 7) !== 0x2d ||
    t !== 0x74 ||
    s.charCodeAt(from + 13) !== 0x3a ||
    s.charCodeAt(from + 16) !== 0x3a
  )
    fail();
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hours < 0 ||
    hours > 23 ||
    minutes < 0 ||
    minutes > 59 ||
    seconds < 0 ||
    seconds > 60
  )
    fail();
  let at = from + 19;
  let ms = 0;
  if (s.charCodeAt(at) === 0x2e /* . */) {
    let end = at + 1;
    while (end < to && isDigit(s.charCodeAt(end))) end++;
    const digits = end - at - 1;
    if (digits === 0) fail();
    // 1-3 digits are exact; longer ones rounded the SDK's way
    if (digits <= 3) ms = number(s, at + 1, end) * (digits === 1 ? 100 : digits === 2 ? 10 : 1);
    else {
      const fraction = s.slice(at + 1, end);
      ms = Number(fraction) ? Math.round(parseFloat(`0.${fraction}`) * 1000) : 0;
    }
    at = end;
  }
  let offsetMs = 0;
  const zone = at < to ? s.charCodeAt(at) : 0;
  if ((zone | 0x20) === 0x7a /* z */) {
    if (at + 1 !== to) fail();
  } else if ((zone === 0x2b || zone === 0x2d) && at + 6 === to && s.charCodeAt(at + 3) === 0x3a) {
    const oh = number(s, at + 1, at + 3);
    const om = number(s, at + 4, at + 6);
    if (oh < 0 || om < 0) fail();
    offsetMs = (zone === 0x2d ? 1 : -1) * (oh * 3_600_000 + om * 60_000);
  } else fail();
  let time: number;
  if (year < 100 || seconds === 60 || ms === 1000) {
    // as the SDK: Date.UTC reads years 0-99 as 1900-1999, so the year is set again
    // (which also undoes a year change by a leap second or a rounded-up ms on 31 December)
    const date = new Date(Date.UTC(year, month - 1, day, hours, minutes, seconds, ms));
    date.setUTCFullYear(year);
    time = date.getTime();
  } else {
    // Date.UTC's value, a quarter of its cost; a day past the month's end runs on as there
    time =
      daysFromCivil(year, month, day) * 86_400_000 +
      hours * 3_600_000 +
      minutes * 60_000 +
      seconds * 1000 +
      ms;
  }
  time += offsetMs;
  if (!Number.isFinite(time)) fail();
  return time;
}
