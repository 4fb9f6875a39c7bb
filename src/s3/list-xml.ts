// parseListPage: a ListObjectsV2 response body (ListBucketResult XML) read straight into a
// ListPage by a scanner of its elements; the values in them are decoded by xml-values.ts.
// Pure. What it does not fully understand is left to the SDK.
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
import {
  decodeText,
  fail,
  normalizeEtag,
  NOT_UNDERSTOOD,
  parseSize,
  parseTimestampMs,
  stripQuotes,
} from './xml-values.js';

export { normalizeEtag };

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

/** nesting allowed in elements skipped unread (Owner, RestoreStatus are 1 deep) */
const MAX_SKIP_DEPTH = 16;

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
