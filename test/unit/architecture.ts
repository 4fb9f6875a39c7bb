// Keeps the architecture's arrows honest (docs/ARCHITECTURE.md): which src/ module may
// import which, and one importer per external dependency.
import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const ALLOWED: Record<string, string[]> = {
  cli: ['config', 'control', 'daemon', 'account-daemon', 'log', 's3', 'util'],
  daemon: ['config', 'control', 'core', 'fuse', 's3', 'log', 'util'],
  // the daemon of a whole-account mount: the daemon's parts over account-core
  'account-daemon': ['config', 'control', 'daemon', 'account-core', 'core', 'fuse', 's3', 'log', 'util'],
  // the control channel's transport and protocol (a unix socket, JSON lines)
  control: ['log', 'util'],
  // the filesystem core over any ObjectStore, without FUSE (src/core.ts)
  core: ['config', 'fs', 'meta', 'read', 'write', 's3', 'log', 'util'],
  // one core per bucket under the root of a whole-account mount (src/account-core.ts)
  'account-core': ['config', 'core', 'fs', 'write', 's3', 'log', 'util'],
  fuse: ['fs', 'read', 'write', 'log', 'util'],
  fs: ['meta', 'read', 'write', 's3', 'log', 'util'],
  meta: ['s3', 'log', 'util'],
  read: ['s3', 'log', 'util'],
  write: ['s3', 'log', 'util'],
  s3: ['log', 'util'],
  config: ['log'],
  log: [],
  util: [],
};
const EXTERNAL_HOME: Record<string, string> = { '@aws-sdk': 's3', 'fuse-native': 'fuse', yargs: 'cli' };

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const moduleOf = (file: string) => relative(SRC, file).split('/')[0]?.replace(/\.ts$/, '') ?? '';

t.test('imports follow the arrows', async (t) => {
  const all = await files(SRC);
  t.ok(all.length > 10, 'found the sources');
  for (const f of all) {
    const from = moduleOf(f);
    const text = await readFile(f, 'utf8');
    // static imports, and dynamic ones (`await import('./x.js')`: loaded later, still a dependency)
    for (const m of text.matchAll(/^import[^'"(]*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('.')) {
        const to = moduleOf(join(f, '..', spec.replace(/\.js$/, '.ts')));
        if (to === from) continue;
        t.ok(ALLOWED[from]?.includes(to), `${relative(SRC, f)} → ${to}`);
      } else if (!spec.startsWith('node:')) {
        const pkg = spec.startsWith('@') ? (spec.split('/')[0] as string) : (spec.split('/')[0] as string);
        const home = EXTERNAL_HOME[pkg];
        if (home) t.equal(from, home, `${spec} is imported only in src/${home}/ (${relative(SRC, f)})`);
      }
    }
  }
});

/** The relative imports of a source file (also `import type`, `export ... from` and `import('./x.js')`), as files. */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(
    /^(?:import|export)\b[^'";]*?\bfrom\s*['"](\.[^'"]+)['"]|^import\s*['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/gm,
  )) {
    const spec = (m[1] ?? m[2] ?? m[3]) as string;
    out.push(join(file, '..', spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

/** Every cycle's files, found by a depth-first walk (each cycle once per entry point into it). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (f: string) => {
    if (done.has(f)) return;
    if (onStack.has(f)) {
      found.push([...stack.slice(stack.indexOf(f)), f]);
      return;
    }
    stack.push(f);
    onStack.add(f);
    for (const g of graph.get(f) ?? []) visit(g);
    stack.pop();
    onStack.delete(f);
    done.add(f);
  };
  for (const f of graph.keys()) visit(f);
  return found;
}

t.test('the walker finds a cycle', async (t) => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
  ]);
  t.same(cycles(g), [['a', 'b', 'c', 'a']]);
  t.same(
    cycles(
      new Map([
        ['a', ['b']],
        ['b', []],
      ]),
    ),
    [],
  );
});

t.test('no import cycle in src/ (type imports count: they are a dependency too)', async (t) => {
  const graph = new Map<string, string[]>();
  for (const f of await files(SRC)) graph.set(f, await importsOf(f));
  t.ok(
    [...graph.values()].some((deps) => deps.length > 0),
    'found the imports',
  );
  for (const c of cycles(graph)) t.fail(`import cycle: ${c.map((f) => relative(SRC, f)).join(' → ')}`);
});
