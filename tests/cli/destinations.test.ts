/**
 * settings.json `destinations`: one run to several destinations of
 * different kinds, each with its own outcome, and `--from NAME` picking
 * destinations for list / verify / restore / prune. The built CLI as a
 * subprocess, the suite's real S3 server, every archive read back.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli, type CliRun } from '../helpers/cli.js';
import { freshBucket, getObject, listKeys, s3Env, s3Server } from '../helpers/s3.js';

function cli(cwd: string, args: string[]): Promise<CliRun> {
  return runCli(args, { cwd, env: s3Env() });
}

async function project(destinations: unknown[]): Promise<{ root: string; settings: string }> {
  const root = await tempDir();
  await makeRichTree(root);
  const settings = path.join(root, 'config', 'settings.json');
  await fs.mkdir(path.dirname(settings), { recursive: true });
  await fs.writeFile(settings, JSON.stringify({ sources: ['./data'], format: 'tar.gz', name: 'nightly-{date}-{time}', destinations }, null, 2));
  return { root, settings };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('destinations in settings.json', () => {
  it('one run writes the same archive to two folders and a bucket, each named in the result and the manifest', async () => {
    const bucket = await freshBucket();
    const { root } = await project([
      { name: 'here', type: 'local', path: './backups' },
      { name: 'usb', type: 'local', path: './usb/backups' },
      { name: 'cloud', type: 's3', bucket, prefix: 'host1/', endpoint: s3Server().endpoint },
    ]);
    const run = await cli(root, ['run', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    expect(result.destinations.map((d: { name: string; type: string; ok: boolean }) => [d.name, d.type, d.ok])).toEqual([
      ['here', 'local', true],
      ['usb', 'local', true],
      ['cloud', 's3', true],
    ]);
    const name = path.basename(result.archive);
    expect(result.s3).toEqual({ bucket, key: `host1/${name}` });
    const here = await fs.readFile(path.join(root, 'backups', name));
    const usb = await fs.readFile(path.join(root, 'usb', 'backups', name));
    const cloud = await getObject(bucket, `host1/${name}`);
    expect(sha256(here)).toBe(result.sha256);
    expect(sha256(usb)).toBe(result.sha256);
    expect(sha256(cloud)).toBe(result.sha256);
    const into = path.join(root, 'extracted');
    await fs.mkdir(into);
    extractWithSystemTool(path.join(root, 'usb', 'backups', name), into);
    expect(await describeTree(path.join(into, 'data'))).toEqual(await describeTree(path.join(root, 'data')));
    const manifest = JSON.parse((await getObject(bucket, `host1/${name}.manifest.json`)).toString());
    expect(manifest.destinations.map((d: { name: string; kind: string; ok: boolean }) => [d.name, d.kind, d.ok])).toEqual([
      ['here', 'local', true],
      ['usb', 'local', true],
      ['cloud', 's3', true],
    ]);
  });

  it('a destination that fails leaves the others published: exit 1, the failed one named with its reason', async () => {
    const { root } = await project([
      { name: 'here', type: 'local', path: './backups' },
      { name: 'cloud', type: 's3', bucket: 'no-such-bucket-here', endpoint: s3Server().endpoint },
      { name: 'usb', type: 'local', path: './usb' },
    ]);
    const run = await cli(root, ['run', '--json']);
    expect(run.code).toBe(1);
    const result = parseJsonResult(run);
    expect(result.destinations.map((d: { name: string; ok: boolean }) => [d.name, d.ok])).toEqual([
      ['here', true],
      ['cloud', false],
      ['usb', true],
    ]);
    expect(result.error.message).toMatch(/S3 destination "cloud" \(s3:\/\/no-such-bucket-here\/\) failed: .*no-such-bucket-here/);
    expect(result.error.message).toMatch(/The local copy "here" is complete and verified/);
    expect((await listDir(path.join(root, 'usb'))).filter((f) => f.endsWith('.tar.gz'))).toHaveLength(1);
  });

  it('--from picks destinations by name for list, verify, restore and prune; an unknown name is exit 2 naming the known ones', async () => {
    const bucket = await freshBucket();
    const { root } = await project([
      { name: 'here', type: 'local', path: './backups' },
      { name: 'cloud', type: 's3', bucket, prefix: 'p/', endpoint: s3Server().endpoint },
    ]);
    const first = await cli(root, ['run', '--json']);
    expect(first.code, first.stderr).toBe(0);
    // Only on the bucket: delete the local copy of the first backup.
    const name = path.basename(parseJsonResult(first).archive);
    for (const f of await listDir(path.join(root, 'backups'))) await fs.rm(path.join(root, 'backups', f));

    const listed = parseJsonResult(await cli(root, ['list', '--json']));
    expect(listed.locations.map((l: { name: string; backups: unknown[] }) => [l.name, l.backups.length])).toEqual([
      ['here', 0],
      ['cloud', 1],
    ]);
    const fromCloud = parseJsonResult(await cli(root, ['list', '--from', 'cloud', '--json']));
    expect(fromCloud.locations.map((l: { name: string }) => l.name)).toEqual(['cloud']);

    // A different file of the same name in the working folder: --from names the
    // destination, so verify and restore must read the bucket's copy, not this one.
    await fs.writeFile(path.join(root, name), 'not the backup');
    const verified = await cli(root, ['verify', '--from', 'cloud', name, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect((await listKeys(bucket)).sort()).toContain(`p/${name}.verified.json`);

    const restored = await cli(root, ['restore', '--from', 'cloud', name, '--to', 'restored', '--include', 'data/deep', '--json']);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(await describeTree(path.join(root, 'restored', 'data', 'deep'))).toEqual(await describeTree(path.join(root, 'data', 'deep')));

    // Not in the picked destination: not found there, even with the file in the working folder.
    const missing = await cli(root, ['verify', '--from', 'here', name, '--json']);
    expect(missing.code).toBe(2);
    expect(parseJsonResult(missing).error.message).toMatch(new RegExp(`${name.replace(/\./g, '\\.')} is not in [^,]*backups\\. See`));
    await fs.rm(path.join(root, name));

    const unknown = await cli(root, ['list', '--from', 'nas', '--json']);
    expect(unknown.code).toBe(2);
    expect(parseJsonResult(unknown).error.message).toMatch(/--from "nas": no destination of that name; the destinations are "here", "cloud"/);

    // A second backup on both; prune only the bucket's older one.
    await new Promise((resolve) => setTimeout(resolve, 1100)); // another second: another name
    const second = await cli(root, ['run', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const secondName = path.basename(parseJsonResult(second).archive);
    const pruned = await cli(root, ['prune', '--from', 'cloud', '--keep-last', '1', '--json']);
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    expect((await listKeys(bucket)).filter((k) => k.endsWith('.tar.gz'))).toEqual([`p/${secondName}`]);
    expect((await listDir(path.join(root, 'backups'))).filter((f) => f.endsWith('.tar.gz'))).toEqual([secondName]);
  });

  it('settings with both destinations and the older keys are refused with the way to fix it; duplicate names too', async () => {
    const { root, settings } = await project([{ type: 'local', path: './backups' }]);
    const text = JSON.parse(await fs.readFile(settings, 'utf8'));
    await fs.writeFile(settings, JSON.stringify({ ...text, destination: './old' }));
    const both = await cli(root, ['run', '--json']);
    expect(both.code).toBe(2);
    expect(parseJsonResult(both).error.message).toMatch(/destinations: use either "destinations" or the older "destination", not both/);
    await fs.writeFile(settings, JSON.stringify({ ...text, destinations: [{ type: 'local', path: './a' }, { type: 'local', path: './b' }] }));
    const twice = await cli(root, ['run', '--json']);
    expect(twice.code).toBe(2);
    expect(parseJsonResult(twice).error.message).toMatch(/destinations\[1\]\.name: destinations\[0\] is named "local" too/);
    await fs.writeFile(settings, JSON.stringify({ ...text, destinations: [{ type: 'ftp', host: 'x' }] }));
    const unknownType = await cli(root, ['run', '--json']);
    expect(unknownType.code).toBe(2);
    expect(parseJsonResult(unknownType).error.message).toMatch(/destinations\[0\]\.type.*"local", "s3"/);
  });

  it('--dest on the command line replaces the settings list for that run', async () => {
    const { root } = await project([{ name: 'here', type: 'local', path: './backups' }]);
    const run = await cli(root, ['run', '--dest', 'elsewhere', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonResult(run).destinations.map((d: { name: string; location: string }) => [d.name, path.dirname(d.location)])).toEqual([['local', path.join(root, 'elsewhere')]]);
    expect(await listDir(path.join(root, 'backups')).catch(() => [])).toEqual([]);
  });
});
