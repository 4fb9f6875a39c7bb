import t from 'tap';
import { readFile } from 'node:fs/promises';
import { OPTIONS } from '../../../src/config/options.js';
import { renderOptionsMarkdown } from '../../../src/config/render-doc.js';

t.test('docs/CONFIGURATION.md shows exactly the option table', async (t) => {
  const doc = await readFile(new URL('../../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
  t.ok(doc.includes(renderOptionsMarkdown()), 'generated section is current (run scripts/gen-config-doc)');
  for (const o of OPTIONS) t.match(doc, `\`--${o.name}\``, `--${o.name} documented`);
});
