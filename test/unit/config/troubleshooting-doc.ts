// Docs that are tested: every message s3mount prints for a failed command (the one line
// of a refused mount, a bad option, keys that cannot be had, unmount, sync, status) and
// every warning or error its daemon logs from cli/ and daemon.ts is found in the source
// and must appear in docs/TROUBLESHOOTING.md, so a new message cannot ship without its
// cause and fix. A message's fixed text is compared: each piece between ${...} that is
// long enough to say something.
import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';

const ROOT = new URL('../../../', import.meta.url);

/** Where user-facing messages are made, and what introduces one there. */
const SOURCES: { files: string[]; tokens: RegExp }[] = [
  {
    files: [
      'src/config/config.ts',
      'src/config/parse.ts',
      'src/s3/credentials.ts',
      'src/s3/tls.ts',
      'src/daemon.ts',
      'src/fuse/native.ts',
    ],
    tokens:
      /new (?:UserError|ConfigError|CredentialsError|CaBundleError|Error)\(|\bfail\(|logger\.(?:warn|error)\(/g,
  },
  {
    files: ['src/cli/'],
    tokens:
      /new (?:UserError|ConfigError|CredentialsError|CaBundleError|Error)\(|message: |stderr\.write\(|logger\.(?:warn|error)\(/g,
  },
  // functions whose return value is the message
  {
    files: ['src/cli/fuse-access.ts', 'src/cli/preflight.ts', 'src/s3/tls.ts'],
    tokens: /\breturn\b/g,
  },
];

/** Scans a quoted string or template literal at `i`; returns its end and its fixed pieces. */
function literal(src: string, i: number): { end: number; pieces: string[] } {
  const q = src[i];
  const pieces: string[] = [];
  let cur = '';
  let j = i + 1;
  while (j < src.length) {
    const c = src[j];
    if (c === '\\') {
      cur += src[j + 1] === 'n' ? '\n' : (src[j + 1] ?? '');
      j += 2;
    } else if (c === q) {
      pieces.push(cur);
      return { end: j + 1, pieces };
    } else if (q === '`' && c === '$' && src[j + 1] === '{') {
      pieces.push(cur);
      cur = '';
      j = skipExpression(src, j + 2, '}');
    } else {
      cur += c;
      j++;
    }
  }
  throw new Error(`unterminated literal at ${i}`);
}

/** Index after the `close` that ends the expression starting at `i` (nested literals skipped). */
function skipExpression(src: string, i: number, close: string, collect?: string[][]): number {
  let depth = 0;
  let j = i;
  while (j < src.length) {
    const c = src[j] as string;
    if (depth === 0 && c === close) return j + 1;
    if (c === '/' && (src[j + 1] === '/' || src[j + 1] === '*')) {
      // a comment (its apostrophes are not quotes)
      const end = src[j + 1] === '/' ? src.indexOf('\n', j) : src.indexOf('*/', j) + 1;
      j = end < 0 ? src.length : end + 1;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const l = literal(src, j);
      if (depth === 0) collect?.push(l.pieces);
      j = l.end;
      continue;
    }
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    j++;
  }
  throw new Error(`unbalanced expression at ${i}`);
}

async function sourceFiles(entry: string): Promise<string[]> {
  if (!entry.endsWith('/')) return [entry];
  const names = await readdir(new URL(entry, ROOT));
  return names.filter((n) => n.endsWith('.ts')).map((n) => entry + n);
}

/** The fixed pieces of each message in the sources, with where it is. */
async function messages(): Promise<{ where: string; pieces: string[] }[]> {
  const out: { where: string; pieces: string[] }[] = [];
  for (const { files, tokens } of SOURCES) {
    for (const file of (await Promise.all(files.map(sourceFiles))).flat()) {
      const src = await readFile(new URL(file, ROOT), 'utf8');
      for (const m of src.matchAll(tokens)) {
        const lineStart = src.lastIndexOf('\n', m.index) + 1;
        if (/\/\/|^\s*\*/.test(src.slice(lineStart, m.index))) continue; // in a comment
        const at = (m.index ?? 0) + m[0].length;
        const where = `${file}:${src.slice(0, at).split('\n').length}`;
        const found: string[][] = [];
        if (m[0].endsWith('(')) skipExpression(src, at, ')', found);
        else if (m[0] === 'return') skipExpression(src, at, ';', found);
        else {
          const j = src.slice(at).search(/\S/) + at;
          if (src[j] === "'" || src[j] === '`' || src[j] === '"') found.push(literal(src, j).pieces);
        }
        for (const pieces of found) out.push({ where, pieces });
      }
    }
  }
  return out;
}

const normal = (s: string) => s.replace(/\s+/g, ' ');

/** Pieces shorter than this say nothing alone ("s3mount: ", ", "): a message needs a longer one. */
const MIN_PIECE = 10;

t.test('every message s3mount prints is in docs/TROUBLESHOOTING.md', async (t) => {
  const doc = normal(await readFile(new URL('docs/TROUBLESHOOTING.md', ROOT), 'utf8'));
  const all = await messages();
  t.ok(all.length > 60, `found the messages (${all.length})`);
  let checked = 0;
  for (const { where, pieces } of all) {
    // short pieces (such as 's3mount: ' or '\n') say nothing alone
    const telling = pieces.map((p) => normal(p).trim()).filter((p) => p.length >= MIN_PIECE);
    if (telling.length === 0) continue;
    checked++;
    for (const p of telling) t.ok(doc.includes(p), `${where}: "${p}"`);
  }
  t.ok(checked > 50, `checked ${checked}`);
});

t.test('README links to it', async (t) => {
  t.match(await readFile(new URL('README.md', ROOT), 'utf8'), 'docs/TROUBLESHOOTING.md');
});
