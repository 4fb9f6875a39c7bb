// Docs that are tested: every "`--option` (default)" that docs/SEMANTICS.md and the
// README quote must be the option table's default.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { optionDef } from '../../../src/config/options.js';

function shown(def: string, type: string): string {
  if (type === 'seconds') return `${def} s`;
  if (type === 'bytes') {
    const m = /^(\d+)([KMGT])$/.exec(def);
    return m ? `${m[1]} ${m[2]}iB` : def;
  }
  return def;
}

for (const file of ['docs/SEMANTICS.md', 'README.md']) {
  t.test(`${file} quotes the real defaults`, async (t) => {
    const text = await readFile(new URL(`../../../${file}`, import.meta.url), 'utf8');
    const quotes = [...text.matchAll(/`--([a-z-]+)`\s*\((\d[^,)]*)/g)];
    t.ok(quotes.length > 0 || file === 'README.md', 'found quoted defaults');
    for (const [, name, value] of quotes) {
      const def = optionDef(name as string);
      t.equal(value?.trim(), shown(String(def.default), def.type), `--${name}`);
    }
  });
}
