// parseListPage: a ListObjectsV2 response body (ListBucketResult XML) read straight into a
// ListPage; normalizeEtag. Pure. What it does not fully understand is left to the SDK.
//
// Why: the SDK builds a generic tree of the document, then its typed output, which
// sdk-store.ts maps again: ~30 ms of CPU per 1,000 keys (75 ms cold), more than RGW takes
// to answer. This scans the text once with indexOf and builds the page (~2 ms).
//
// It reads every document both accept as the SDK's own parser does (@aws-sdk/xml-builder
// parseXML under @aws-sdk/core's XmlShapeDeserializer; the unit test compares them): text
// as is (no trimming), CR LF and CR as LF, the five named entities and numeric references
// decoded, Size as Number(), LastModified as the SDK's RFC 3339 parser reads it. Where it
// does not follow the SDK:
//  - a numeric reference above U+FFFF (&#x1F600;) is that code point; the SDK's
//    String.fromCharCode keeps its low 16 bits;
//  - a value of white space only with a line feed in it (a key "\n") is kept; the SDK
//    takes it for indentation and reads "";
//  - several Prefix in one CommonPrefixes are all read, and an element this does not read
//    (Name, StorageClass) may come twice: the SDK fails on both.
// It returns undefined (the caller lets the SDK parse) for: another root element, a
// comment, CDATA, a processing instruction or DOCTYPE, attributes inside the root, an
// unknown entity or a stray "&", malformed or mismatched tags, a truncated document, a
// Contents without Key or with a field twice, a Size that is not digits, a LastModified
// the SDK would reject, an IsTruncated other than true/false.
import type { ListPage, ObjectInfo } from './store.js';

/** Removes W/ and the quotes S3 puts around ETags (CopyObject on RGW sends none). */
export function normalizeEtag(etag: string | undefined): string {
  // the same as etag.replace(/^W\//, '').replace(/^"+|"+$/g, ''), without regexes: once per listed key
  if (etag === undefined) return '';
  return stripQuotes(etag.startsWith('W/') ? etag.slice(2) : etag);
}

/** `s` without the double quotes it starts and ends with */
function stripQuotes(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === QUOTE) start++;
  while (end > start && s.charCodeAt(end - 1) === QUOTE) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** The page in a ListBucketResult document, or undefined if the document is not one this fully understands. */
export function parseListPage(xml: string): ListPage | undefined {
  try {
    return new ListScanner(xml).page();
  } catch (err) {
    if (err === NOT_UNDERSTOOD) return undefined; // the SDK parses it instead (and reports what is wrong)
    throw err;
  }
}

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f;
const QUOTE = 0x22;
const APOS = 0x27;
const AMP = 0x26;
const BANG = 0x21;
const QUESTION = 0x3f;
const ZERO = 0x30;
const NINE = 0x39;

/** thrown inside the scanner, caught in parseListPage; a constant: no stack trace is built */
const NOT_UNDERSTOOD = Symbol('not understood');

/** nesting allowed in elements skipped unread (Owner, RestoreStatus are 1 deep) */
const MAX_SKIP_DEPTH = 16;
/** digits in a Size: 15 always fit a double exactly */
const MAX_SIZE_DIGITS = 15;

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function fail(): never {
  throw NOT_UNDERSTOOD;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

class ListScanner {
  /** position of the next unread character */
  private i = 0;
  /** the first '&' at or after ampFrom (x.length if none): one pass over the text finds them all */
  private amp = -1;
  private ampFrom = 0;
  /** the same for CR */
  private cr = -1;
  private crFrom = 0;

  constructor(private readonly x: string) {}

  page(): ListPage {
    const x = this.x;
    this.skipSpace();
    if (x.startsWith('<?xml', this.i)) {
      const end = x.indexOf('?>', this.i);
      if (end < 0) fail();
      this.i = end + 2;
      this.skipSpace();
    }
    const page: ListPage = { objects: [], prefixes: [] };
    if (!x.startsWith('<ListBucketResult', this.i)) fail();
    this.i += '<ListBucketResult'.length;
    if (this.rootAttributes()) {
      let truncated: boolean | undefined;
      let token: string | undefined;
      for (;;) {
        if (this.opens('Contents>')) {
          page.objects.push(this.contents());
          continue;
        }
        const tag = this.nextChild('</ListBucketResult>');
        if (tag === undefined) break;
        if (tag === 'CommonPrefixes>') this.commonPrefixes(page.prefixes);
        else if (tag === 'IsTruncated>') {
          if (truncated !== undefined) fail();
          const v = this.text('</IsTruncated>');
          if (v === 'true') truncated = true;
          else if (v === 'false') truncated = false;
          else fail();
        } else if (tag === 'NextContinuationToken>') {
          if (token !== undefined) fail();
          token = this.text('</NextContinuationToken>');
        } else if (tag === 'NextContinuationToken/>') {
          if (token !== undefined) fail();
          token = '';
        } else this.skip(tag, 0);
      }
      if (truncated === true && token) page.nextToken = token;
    }
    this.skipSpace();
    if (this.i !== x.length) fail();
    return page;
  }

  /** Reads the root's attributes (namespace) up to its '>'; false if it closed itself. */
  private rootAttributes(): boolean {
    const x = this.x;
    const first = x.charCodeAt(this.i);
    if (first !== GT && first !== SLASH && !isSpace(first)) fail(); // <ListBucketResultX
    for (;;) {
      const c = x.charCodeAt(this.i);
      if (Number.isNaN(c)) fail();
      if (c === QUOTE || c === APOS) {
        const close = x.indexOf(c === QUOTE ? '"' : "'", this.i + 1);
        if (close < 0) fail();
        this.i = close + 1;
      } else if (c === GT) {
        this.i++;
        return true;
      } else if (c === SLASH) {
        if (x.charCodeAt(this.i + 1) !== GT) fail();
        this.i += 2;
        return false;
      } else if (c === LT || c === AMP) fail();
      else this.i++;
    }
  }

  private skipSpace(): void {
    const x = this.x;
    while (isSpace(x.charCodeAt(this.i))) this.i++;
  }

  /** Moves past the start tag `<${tag}` (tag ending in '>') if it comes next, after white space. */
  private opens(tag: string): boolean {
    this.skipSpace();
    if (this.x.charCodeAt(this.i) !== LT || !this.x.startsWith(tag, this.i + 1)) return false;
    this.i += 1 + tag.length;
    return true;
  }

  /**
   * Moves past the start tag of the parent's next child element and returns its name
   * with the closing '>' ('Key>', or 'Key/>' for an empty element); undefined after the
   * parent's end tag. Only white space may come between children.
   */
  private nextChild(parentEnd: string): string | undefined {
    const x = this.x;
    this.skipSpace();
    if (x.charCodeAt(this.i) !== LT) fail();
    const c = x.charCodeAt(this.i + 1);
    if (c === SLASH) {
      if (!x.startsWith(parentEnd, this.i)) fail();
      this.i += parentEnd.length;
      return undefined;
    }
    if (c === BANG || c === QUESTION) fail(); // comment, CDATA, DOCTYPE, processing instruction
    const gt = x.indexOf('>', this.i + 1);
    if (gt < 0) fail();
    // a name, no attributes: none of these characters until '>' (or '/>')
    const nameEnd = x.charCodeAt(gt - 1) === SLASH ? gt - 1 : gt;
    if (nameEnd === this.i + 1) fail();
    for (let j = this.i + 1; j < nameEnd; j++) {
      const d = x.charCodeAt(j);
      if (
        isSpace(d) ||
        d === LT ||
        d === SLASH ||
        d === QUOTE ||
        d === APOS ||
        d === AMP ||
        d === 0x3d /* = */
      )
        fail();
    }
    const tag = x.slice(this.i + 1, gt + 1);
    this.i = gt + 1;
    return tag;
  }

  /** Whether x[from, to) holds a '&' or CR, which decodeText must handle. */
  private needsDecoding(from: number, to: number): boolean {
    const x = this.x;
    if (from < this.ampFrom || from > this.amp) {
      this.ampFrom = from;
      this.amp = x.indexOf('&', from);
      if (this.amp < 0) this.amp = x.length;
    }
    if (from < this.crFrom || from > this.cr) {
      this.crFrom = from;
      this.cr = x.indexOf('\r', from);
      if (this.cr < 0) this.cr = x.length;
    }
    return this.amp < to || this.cr < to;
  }

  /** Moves to the end tag `end` that must follow the text of the element just opened; returns where the text ends. */
  private textEnd(end: string): number {
    const lt = this.x.indexOf('<', this.i);
    if (lt < 0 || !this.x.startsWith(end, lt)) fail(); // a child element, comment, CDATA, or no end tag
    return lt;
  }

  /** The text content of the element just opened, up to `end` (its end tag), decoded. */
  private text(end: string): string {
    const from = this.i;
    const lt = this.textEnd(end);
    this.i = lt + end.length;
    const raw = this.x.slice(from, lt);
    return this.needsDecoding(from, lt) ? decodeText(raw) : raw;
  }

  /** Skips the element just opened (tag as from nextChild), checking that it is well formed. */
  private skip(tag: string, depth: number): void {
    if (tag.endsWith('/>')) return;
    if (depth > MAX_SKIP_DEPTH) fail();
    const x = this.x;
    for (;;) {
      const lt = x.indexOf('<', this.i);
      if (lt < 0) fail();
      if (lt > this.i && this.needsDecoding(this.i, lt)) decodeText(x.slice(this.i, lt)); // fails on a bad entity
      this.i = lt;
      if (x.charCodeAt(lt + 1) === SLASH) {
        // </tag
        if (!x.startsWith(tag, lt + 2)) fail();
        this.i = lt + 2 + tag.length;
        return;
      }
      const child = this.nextChild('');
      if (child === undefined) fail(); // not reached: nextChild saw '<' not followed by '/'
      this.skip(child, depth + 1);
    }
  }

  private contents(): ObjectInfo {
    const x = this.x;
    let key: string | undefined;
    let size: number | undefined;
    let etag: string | undefined;
    let lastModifiedMs: number | undefined;
    for (;;) {
      // the four fields read, in the order RGW and AWS send them
      if (this.opens('Key>')) {
        if (key !== undefined) fail();
        key = this.text('</Key>');
      } else if (this.opens('LastModified>')) {
        if (lastModifiedMs !== undefined) fail();
        const from = this.i;
        const lt = this.textEnd('</LastModified>');
        this.i = lt + '</LastModified>'.length;
        if (this.needsDecoding(from, lt)) {
          const decoded = decodeText(x.slice(from, lt));
          lastModifiedMs = parseTimestampMs(decoded, 0, decoded.length);
        } else lastModifiedMs = parseTimestampMs(x, from, lt);
      } else if (this.opens('ETag>')) {
        if (etag !== undefined) fail();
        const from = this.i;
        const lt = this.textEnd('</ETag>');
        this.i = lt + '</ETag>'.length;
        // most ETags are &quot;hex&quot;: no need to decode them and remove the quotes again
        if (
          lt - from >= 12 &&
          x.startsWith('&quot;', from) &&
          x.startsWith('&quot;', lt - 6) &&
          !this.needsDecoding(from + 6, lt - 6)
        ) {
          etag = stripQuotes(x.slice(from + 6, lt - 6));
        } else {
          const raw = x.slice(from, lt);
          etag = normalizeEtag(this.needsDecoding(from, lt) ? decodeText(raw) : raw);
        }
      } else if (this.opens('Size>')) {
        if (size !== undefined) fail();
        const from = this.i;
        const lt = this.textEnd('</Size>');
        this.i = lt + '</Size>'.length;
        size = parseSize(x, from, lt); // digits only: nothing to decode
      } else if (this.opens('StorageClass>'))
        this.text('</StorageClass>'); // in every Contents, not read
      else {
        const tag = this.nextChild('</Contents>');
        if (tag === undefined) break;
        // an empty element (<Key/>) is an empty value
        if (tag === 'Key/>') {
          if (key !== undefined) fail();
          key = '';
        } else if (tag === 'ETag/>') {
          if (etag !== undefined) fail();
          etag = '';
        } else if (tag === 'Size/>' || tag === 'LastModified/>')
          fail(); // the SDK reads 0 / throws
        else this.skip(tag, 0);
      }
    }
    if (key === undefined) fail();
    return { key, size: size ?? 0, etag: etag ?? '', lastModifiedMs: lastModifiedMs ?? 0 };
  }

  private commonPrefixes(into: string[]): void {
    for (;;) {
      const tag = this.nextChild('</CommonPrefixes>');
      if (tag === undefined) return;
      if (tag === 'Prefix>') into.push(this.text('</Prefix>'));
      else if (tag === 'Prefix/>') into.push('');
      else this.skip(tag, 0);
    }
  }
}

/** Character data as XML reads it: line ends made LF, references decoded; fails on '&' that is not a reference. */
function decodeText(raw: string): string {
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
function parseSize(s: string, from: number, to: number): number {
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

function isDigit(c: number): boolean {
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
function parseTimestampMs(s: string, from: number, to: number): number {
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
