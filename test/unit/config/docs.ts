import t from 'tap';
import { readFile } from 'node:fs/promises';
import { OPTIONS } from '../../../src/config/options.js';
import { renderOptionsMarkdown } from '../../../src/config/render-doc.js';

t.test('docs/CONFIGURATION.md shows exactly the option table', async (t) => {
  const doc = await readFile(new URL('../../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
  t.ok(doc.includes(renderOptionsMarkdown()), 'generated section is current (run scripts/gen-config-doc)');
  for (const o of OPTIONS) t.match(doc, `\`--${o.name}\``, `--${o.name} documented`);
});

t.test('man/s3mount.1 and completion/s3mount.bash are generated from the option table', async (t) => {
  const { renderBashCompletion, renderManPage } = await import('../../../src/config/render-man.js');
  const at = (p: string) => readFile(new URL(`../../../${p}`, import.meta.url), 'utf8');
  const { version } = JSON.parse(await at('package.json')) as { version: string };
  t.equal(
    await at('man/s3mount.1'),
    renderManPage(version),
    'man page is current (run scripts/gen-config-doc)',
  );
  t.equal(await at('completion/s3mount.bash'), renderBashCompletion(), 'completion is current');
  for (const o of OPTIONS) {
    t.match(
      renderManPage(version),
      `\\fB\\-\\-${o.name.replace(/-/g, '\\-')}\\fR`,
      `--${o.name} in the man page`,
    );
    t.match(renderBashCompletion(), `--${o.name}`, `--${o.name} completed`);
  }
});
