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
    // The older keys' local folder is the run's one destination.
    expect(mergeSettings(file, flags)).toEqual({ ...expected, destinations: [{ name: 'local', type: 'local', path: expected.destination }] });
  });
});

describe('mergeSettings: destinations', () => {
  const LIST: Settings = {
    sources: ['./data'],
    destinations: [
      { name: 'here', type: 'local', path: './backups' },
      { name: 'cloud', type: 's3', bucket: 'b', prefix: 'host1/', region: 'eu-west-1' },
      { name: 'blob', type: 'azure', container: 'backups', prefix: '' },
    ],
  };
  const names = (file: Settings | undefined, flags: Parameters<typeof mergeSettings>[1], env = {}): unknown =>
    mergeSettings(file, flags, env).destinations.map((d) => (d.type === 'local' ? [d.name, d.path] : d.type === 's3' ? [d.name, d.s3.bucket, d.s3.prefix, d.s3.region] : [d.name, d.type]));
  it.each([
    ['the list, in order', LIST, {}, {}, [['here', './backups'], ['cloud', 'b', 'host1/', 'eu-west-1'], ['blob', 'azure']]],
    ['--no-local drops the local folders', LIST, { keepLocal: false }, {}, [['cloud', 'b', 'host1/', 'eu-west-1'], ['blob', 'azure']]],
    ['--dest replaces the list', LIST, { destination: 'x' }, {}, [['local', 'x']]],
    ['--s3-bucket replaces the list (with a local copy, as for the older keys)', LIST, { s3Bucket: 'other' }, {}, [['local', 'backups'], ['s3', 'other', '', undefined]]],
    ['--s3-prefix applies to the list\'s S3 entries; their own region wins over AWS_REGION', LIST, { s3Prefix: 'h2/' }, { AWS_REGION: 'us-west-2' }, [['here', './backups'], ['cloud', 'b', 'h2/', 'eu-west-1'], ['blob', 'azure']]],
    ['AWS_REGION fills in an entry without a region', { destinations: [{ type: 's3', bucket: 'b' }] }, {}, { AWS_REGION: 'us-west-2' }, [['s3', 'b', '', 'us-west-2']]],
    ['older keys: local + s3', { destination: 'd', s3: { bucket: 'b' } }, {}, {}, [['local', 'd'], ['s3', 'b', '', undefined]]],
    ['older keys with keepLocal false: s3 only', { s3: { bucket: 'b', keepLocal: false } }, {}, {}, [['s3', 'b', '', undefined]]],
  ] as Array<[string, Settings, Parameters<typeof mergeSettings>[1], Record<string, string>, unknown]>)('%s', (_case, file, flags, env, expected) => {
    expect(names(file, flags, env)).toEqual(expected);
  });

  it('the older `destination` and `s3` fields follow the list (first local, first S3)', () => {
    const merged = mergeSettings(LIST, {});
    expect(merged.destination).toBe('./backups');
    expect(merged.s3).toMatchObject({ bucket: 'b', keepLocal: true });
    expect(resolvePaths(merged, '/p', '/h').destinations[0]).toEqual({ name: 'here', type: 'local', path: '/p/backups' });
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
