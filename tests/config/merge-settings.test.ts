import { describe, expect, it } from 'vitest';
import { DEFAULTS, mergeSettings, resolvePaths, toSettingsFile } from '../../src/config/merge-settings.js';
import type { Settings } from '../../src/config/schema.js';

const FILE: Settings = {
  sources: ['./data'],
  destination: './from-file',
  format: 'tar.bz2',
  name: 'file-{date}',
  exclude: ['*.tmp'],
  strict: true,
  logFile: 'file.log',
};

describe('mergeSettings: defaults < settings.json < flags', () => {
  it.each([
    // [case, file, flags, expected subset]
    ['defaults only', undefined, {}, { ...DEFAULTS, sources: [] }],
    ['file only', FILE, {}, { ...FILE }],
    ['flags only', undefined, { sources: ['a'], format: 'zip' }, { ...DEFAULTS, sources: ['a'], format: 'zip' }],
    ['a flag beats the file', FILE, { format: 'zip' }, { ...FILE, format: 'zip' }],
    ['flag exclude replaces the file list', FILE, { exclude: ['x'] }, { ...FILE, exclude: ['x'] }],
    ['an explicit false flag beats a true file value', FILE, { strict: false }, { ...FILE, strict: false }],
    ['undefined flags never override', FILE, { format: undefined, name: undefined, strict: undefined }, { ...FILE }],
    ['an empty string flag is a value', FILE, { name: '' }, { ...FILE, name: '' }],
  ])('%s', (_case, file, flags, expected) => {
    expect(mergeSettings(file, flags)).toEqual(expected);
  });
});

describe('resolvePaths', () => {
  it('resolves relative paths against the working folder and keeps absolute ones', () => {
    const merged = mergeSettings({ sources: ['data', '/abs/x', '~/docs', '~'], destination: '../out' }, {});
    expect(resolvePaths(merged, '/home/u/project', '/home/u')).toMatchObject({
      sources: ['/home/u/project/data', '/abs/x', '/home/u/docs', '/home/u'],
      destination: '/home/u/out',
      logFile: '/home/u/project/logs/backup.log',
    });
  });
});

describe('toSettingsFile', () => {
  it('leaves defaults out and round-trips through mergeSettings', () => {
    const effective = mergeSettings(undefined, { sources: ['data'], format: 'zip' });
    const file = toSettingsFile(effective);
    expect(file).toEqual({ sources: ['data'], destination: 'backups', format: 'zip' });
    expect(mergeSettings(file, {})).toEqual(effective);
  });
});
