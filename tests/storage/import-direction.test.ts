/**
 * Imports go one way (DESIGN.md): storage knows nothing of archive formats,
 * the archive code nothing of where bytes end up, config (settings) nothing
 * of archives or the lifecycle, and the log nothing of either.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/cli.js';

async function importsOf(folder: string): Promise<Array<{ file: string; target: string }>> {
  const dir = path.join(PROJECT_ROOT, 'src', folder);
  const found: Array<{ file: string; target: string }> = [];
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const text = await fs.readFile(file, 'utf8');
    for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*)'([^']+)'/g)) {
      if (!match[1]!.startsWith('.')) continue;
      found.push({ file: path.relative(PROJECT_ROOT, file), target: path.relative(path.join(PROJECT_ROOT, 'src'), path.resolve(path.dirname(file), match[1]!)) });
    }
  }
  return found;
}

describe('import direction', () => {
  it.each([
    ['storage', 'archive'],
    ['archive', 'storage'],
    ['config', 'archive'],
    ['config', 'lifecycle'],
    ['log', 'archive'],
    ['log', 'storage'],
  ])('src/%s does not import src/%s', async (from, forbidden) => {
    const wrong = (await importsOf(from)).filter((i) => i.target.split(path.sep)[0] === forbidden);
    expect(wrong).toEqual([]);
  });
});
