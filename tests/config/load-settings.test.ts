import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineColumn, loadSettings, parseJson, validateSettings } from '../../src/config/load-settings.js';
import { saveSettings } from '../../src/config/save-settings.js';
import { ConfigError } from '../../src/errors.js';
import { listDir, tempDir } from '../helpers/fixtures.js';

describe('lineColumn', () => {
  it.each([
    ['abc', 0, 1, 1],
    ['abc', 2, 1, 3],
    ['a\nbc', 2, 2, 1],
    ['a\nbc\nd', 5, 3, 1],
  ])('%j @%i -> %i:%i', (text, offset, line, column) => {
    expect(lineColumn(text, offset)).toEqual({ line, column });
  });
});

describe('parseJson and validateSettings', () => {
  it('accepts a BOM and the documented example', () => {
    const example = {
      sources: ['./data'],
      destination: './backups',
      format: 'tar.gz',
      name: '{source}-{date}-{time}',
      exclude: ['node_modules', '*.tmp'],
      s3: { bucket: 'b', prefix: 'host1/', region: 'us-east-1', endpoint: null, storageClass: 'STANDARD', keepLocal: true },
    };
    expect(validateSettings(parseJson(`\uFEFF${JSON.stringify(example)}`, 'f'), 'f')).toEqual(example);
  });

  it.each([
    [{ sources: [] }, 'sources: needs at least one path'],
    [{ sources: [''] }, 'sources[0]: the path is empty (an unset shell variable?); give a file or folder path'],
    [{ sources: ['a', 3] }, 'sources[1]: expected a string, got number 3'],
    [{ format: ['zip'] }, 'format: expected a string, got a list'],
    [{ s3: { bucket: 'b', endpoint: 'ftp://x' } }, 's3.endpoint: expected an http:// or https:// URL'],
    [{ s3: { bucket: 'b', regoin: 'x' } }, 's3.regoin: unknown setting (did you mean "region"?)'],
    [{ s3: { prefix: 'x' } }, 's3.bucket: expected a string, got nothing'],
    [{ zzzzzzzz: 1 }, 'zzzzzzzz: unknown setting'],
    [{ name: 12 }, 'name: expected a string, got number 12'],
    [{ sources: 'x'.repeat(100) }, `sources: expected a list (JSON array), got string "${'x'.repeat(29)}... (102 characters)`],
  ])('%j -> %s', (data, message) => {
    expect(() => validateSettings(data, 'settings.json')).toThrow(new ConfigError('settings.json', message));
  });
});

describe('loadSettings and saveSettings', () => {
  it('saves atomically and loads back the same settings, leaving no temp file', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    const file = path.join(root, 'config/settings.json');
    await saveSettings(file, { sources: ['data'], destination: 'out', format: 'zip' });
    await saveSettings(file, { sources: ['data'], destination: 'out2', format: 'zip' });
    expect(await loadSettings(file)).toEqual({ sources: ['data'], destination: 'out2', format: 'zip' });
    expect(await listDir(path.join(root, 'config'))).toEqual(['settings.json']);
  });

  it('refuses to save settings it would refuse to load', async () => {
    const root = await tempDir();
    const file = path.join(root, 'settings.json');
    await expect(saveSettings(file, { sources: [] })).rejects.toThrow(/sources: needs at least one path/);
    expect(await listDir(root)).toEqual([]);
  });

  it('a folder given as the settings file', async () => {
    const root = await tempDir();
    await expect(loadSettings(root)).rejects.toThrow(/cannot read the settings file: is a folder/);
  });
});
