// Renders the option table as the markdown of docs/CONFIGURATION.md (kept in sync by
// test/unit/config/docs.ts; regenerate with scripts/gen-config-doc).
import { OPTIONS } from './options.js';

export const CONFIG_DOC_BEGIN =
  '<!-- options:begin (generated from src/config/options.ts by scripts/gen-config-doc) -->';
export const CONFIG_DOC_END = '<!-- options:end -->';

export function renderOptionsMarkdown(): string {
  const groups = [...new Set(OPTIONS.map((o) => o.group))];
  const out: string[] = [CONFIG_DOC_BEGIN];
  for (const g of groups) {
    out.push('', `### ${g}`, '', '| option | default | env | meaning |', '| --- | --- | --- | --- |');
    for (const o of OPTIONS.filter((x) => x.group === g)) {
      const name = `\`--${o.name}\`${o.alias ? ` / \`-${o.alias}\`` : ''}${o.type === 'boolean' ? '' : ` ${o.type.toUpperCase()}`}`;
      const def = o.default === undefined ? '' : `\`${String(o.default)}\``;
      out.push(`| ${name} | ${def} | ${o.env ? `\`${o.env}\`` : ''} | ${o.describe.replace(/\|/g, '\\|')} |`);
    }
  }
  out.push('', CONFIG_DOC_END);
  return out.join('\n');
}

/** Replaces the generated part of a CONFIGURATION.md text. */
export function spliceOptions(doc: string): string {
  const a = doc.indexOf(CONFIG_DOC_BEGIN);
  const b = doc.indexOf(CONFIG_DOC_END);
  if (a < 0 || b < 0) throw new Error('CONFIGURATION.md has no options markers');
  return doc.slice(0, a) + renderOptionsMarkdown() + doc.slice(b + CONFIG_DOC_END.length);
}
