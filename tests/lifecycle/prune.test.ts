/**
 * `backup prune` and the retention `backup run` applies, end to end on a
 * local folder: exactly the expected archives and sidecars remain; other
 * jobs' backups and unmanaged archives are never touched.
 *
 * Backups "made" over two months are real archives from `backup run`,
 * copied under other names with their manifest's `created` set to the
 * time they stand for (the tool has no clock to inject from outside).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

interface Setup {
  dir: string;
  dest: string;
  template: { archive: string; manifest: Record<string, any> };
}

async function setup(): Promise<Setup> {
  const dir = await tempDir();
  await fs.mkdir(path.join(dir, 'data'));
  await fs.writeFile(path.join(dir, 'data/file.txt'), 'content\n');
  const run = parseJsonResult(await runCli(['run', '-s', 'data', '-d', 'template', '-f', 'tar.gz', '-n', 'template', '--json'], { cwd: dir }));
  expect(run.exitCode).toBe(0);
  const archive = path.join(dir, run.archive as string);
  const manifest = JSON.parse(await fs.readFile(`${archive}.manifest.json`, 'utf8'));
  await fs.mkdir(path.join(dir, 'backups'));
  return { dir, dest: path.join(dir, 'backups'), template: { archive, manifest } };
}

/** A managed backup of the job, as made at `created`. */
async function backupAt(s: Setup, created: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const stamp = created.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const name = `data-${stamp}.tar.gz`;
  const bytes = await fs.readFile(s.template.archive);
  await fs.writeFile(path.join(s.dest, name), bytes);
  await fs.writeFile(path.join(s.dest, `${name}.sha256`), `${createHash('sha256').update(bytes).digest('hex')}  ${name}\n`);
  const manifest = { ...s.template.manifest, nameTemplate: '{source}-{date}-{time}', archive: name, created, ...overrides };
  await fs.writeFile(path.join(s.dest, `${name}.manifest.json`), JSON.stringify(manifest, null, 2));
  return name;
}

const withSidecars = (name: string): string[] => [name, `${name}.manifest.json`, `${name}.sha256`];

describe('prune on a local folder', () => {
  it('keeps exactly what the policy says, deletes the rest with their sidecars, never touches other jobs or unmanaged archives', async () => {
    const s = await setup();
    // Two in one day (the later one counts for that day), a gap of days, a few weeks back.
    const times = ['2026-11-26T02:00:00Z', '2026-11-26T01:00:00Z', '2026-11-25T02:00:00Z', '2026-11-20T02:00:00Z', '2026-11-13T02:00:00Z', '2026-10-30T02:00:00Z'];
    const names: string[] = [];
    for (const t of times) names.push(await backupAt(s, t));
    const other = await backupAt(s, '2026-01-01T00:00:00Z', { sources: ['/somewhere/else'] });
    await fs.writeFile(path.join(s.dest, 'hand-made.tar.gz'), 'not ours');
    const before = await listDir(s.dest);

    // Dry run first: says what it would do, deletes nothing.
    const dry = await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-daily', '2', '--keep-weekly', '2', '--dry-run', '--json'], { cwd: s.dir, env: { TZ: 'UTC' } });
    const plan = parseJsonResult(dry);
    expect(plan.exitCode).toBe(0);
    expect(await listDir(s.dest)).toEqual(before);
    const actions = Object.fromEntries(plan.locations[0].backups.map((b: any) => [b.name, [b.action, b.reasons]]));
    expect(actions).toEqual({
      [names[0]!]: ['keep', ['newest', 'daily 2026-11-26', 'weekly 2026-W48']],
      [names[1]!]: ['remove', []],
      [names[2]!]: ['keep', ['daily 2026-11-25']],
      [names[3]!]: ['keep', ['weekly 2026-W47']],
      [names[4]!]: ['remove', []],
      [names[5]!]: ['remove', []],
      [other]: ['ignore', [expect.stringContaining('another job')]],
      'hand-made.tar.gz': ['ignore', ['unmanaged: no manifest beside it']],
    });

    const run = await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-daily', '2', '--keep-weekly', '2'], { cwd: s.dir, env: { TZ: 'UTC' } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('remove  2026-11-26 01:00:00');
    expect(await listDir(s.dest)).toEqual(
      [...withSidecars(names[0]!), ...withSidecars(names[2]!), ...withSidecars(names[3]!), ...withSidecars(other), 'hand-made.tar.gz'].sort(),
    );
  });

  it('refuses an empty policy (exit 2) and a prune that does not say which job', async () => {
    const s = await setup();
    await backupAt(s, '2026-11-26T02:00:00Z');
    let run = await runCli(['prune', '-s', 'data', '-d', 'backups'], { cwd: s.dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('No retention policy');
    run = await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-last', '0'], { cwd: s.dir });
    expect(run.code).toBe(2);
    run = await runCli(['prune', '-d', 'backups', '--keep-last', '1'], { cwd: s.dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Which job?');
    run = await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-within', '2w'], { cwd: s.dir });
    expect(run.code).toBe(2);
    expect(await listDir(s.dest)).toHaveLength(3);
  });

  it('--keep-within is measured from the newest backup, not from now', async () => {
    const s = await setup();
    const a = await backupAt(s, '2025-03-10T00:00:00Z');
    const b = await backupAt(s, '2025-03-05T00:00:00Z');
    const c = await backupAt(s, '2025-02-01T00:00:00Z');
    const run = parseJsonResult(await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-within', '7d', '--json'], { cwd: s.dir }));
    expect(run.exitCode).toBe(0);
    expect(await listDir(s.dest)).toEqual([...withSidecars(a), ...withSidecars(b)].sort());
    expect(run.locations[0].removed).toEqual([c, `${c}.sha256`, `${c}.manifest.json`]);
  });

  it('removes sidecars a previous, interrupted prune left without their archive', async () => {
    const s = await setup();
    await backupAt(s, '2026-11-26T02:00:00Z');
    const orphan = await backupAt(s, '2026-11-01T02:00:00Z');
    await fs.rm(path.join(s.dest, orphan));
    const run = parseJsonResult(await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-last', '5', '--json'], { cwd: s.dir }));
    expect(run.locations[0].orphansRemoved.sort()).toEqual([`${orphan}.manifest.json`, `${orphan}.sha256`]);
    expect((await listDir(s.dest)).filter((f) => f.startsWith(orphan))).toEqual([]);
  });
});

describe('backup run applies the settings\' retention', () => {
  it('after a successful backup: only the newest N of the job remain', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data/f.txt'), 'x');
    await fs.mkdir(path.join(dir, 'config'));
    await fs.writeFile(
      path.join(dir, 'config/settings.json'),
      JSON.stringify({ sources: ['./data'], destination: './backups', format: 'zip', name: 'job', retention: { keepLast: 2 } }),
    );
    const results = [];
    for (let i = 0; i < 3; i++) results.push(parseJsonResult(await runCli(['run', '--json'], { cwd: dir })));
    expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0]);
    const last = results[2]!;
    expect(last.retention.policy).toBe('last 2');
    expect(last.retention.removed[0].files).toEqual(['job.zip', 'job.zip.sha256', 'job.zip.manifest.json']);
    expect(await listDir(path.join(dir, 'backups'))).toEqual([...withSidecars('job-1.zip'), ...withSidecars('job-2.zip')].sort());
  });

  it('a settings file with a bad retention rule is refused whole (exit 2), nothing written', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'data'));
    await fs.mkdir(path.join(dir, 'config'));
    await fs.writeFile(path.join(dir, 'config/settings.json'), JSON.stringify({ sources: ['./data'], retention: { keepDayly: 3 } }));
    const run = await runCli(['run'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('retention.keepDayly: unknown setting (did you mean "keepDaily"?)');
    expect(await listDir(dir)).toEqual(['config', 'data', 'logs']);
  });
});
