/**
 * `backup verify` against real archives made by `backup run`, damaged in the
 * ways disks and people damage them: a flipped byte, a cut-off end, an
 * edited sidecar, a manifest that disagrees, a missing sidecar.
 */
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const FORMATS = ['zip', 'tar.gz', 'tar.bz2'] as const;

async function backup(format: string): Promise<{ dir: string; archive: string }> {
  const dir = await tempDir();
  await makeRichTree(dir);
  const run = await runCli(['run', '--source', 'data', '--dest', 'backups', '--format', format, '--json'], { cwd: dir });
  const result = parseJsonResult(run);
  expect(result.exitCode, run.stderr).toBe(0);
  return { dir, archive: path.join(dir, result.archive as string) };
}

async function verify(dir: string, ...args: string[]): Promise<{ code: number | null; result: Record<string, any> }> {
  const run = await runCli(['verify', ...args, '--json'], { cwd: dir });
  return { code: run.code, result: parseJsonResult(run) };
}

async function flipByte(file: string, at: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, at);
  one[0] = one[0]! ^ 0xff;
  await handle.write(one, 0, 1, at);
  await handle.close();
}

describe.each(FORMATS)('verify %s', (format) => {
  it('passes a good archive, reads every entry, and records when', async () => {
    const { dir, archive } = await backup(format);
    const { code, result } = await verify(dir, archive);
    expect(code).toBe(0);
    const [outcome] = result.results;
    expect(outcome.ok).toBe(true);
    expect(outcome.problems).toEqual([]);
    const manifest = JSON.parse(await fs.readFile(`${archive}.manifest.json`, 'utf8'));
    expect(outcome.entries).toBe(manifest.entries);
    expect(outcome.files).toBe(manifest.files);
    expect(outcome.sha256).toBe(manifest.sha256);
    const recorded = JSON.parse(await fs.readFile(`${archive}.verified.json`, 'utf8'));
    expect(recorded.ok).toBe(true);
    const listed = parseJsonResult(await runCli(['list', '--dest', 'backups', '--json'], { cwd: dir }));
    expect(listed.locations[0].backups[0].verifiedAt).toBe(recorded.verifiedAt);
  });

  it('catches one flipped byte in the middle', async () => {
    const { dir, archive } = await backup(format);
    const { size } = await fs.stat(archive);
    await flipByte(archive, Math.floor(size / 2));
    const { code, result } = await verify(dir, archive);
    expect(code).toBe(1);
    expect(result.ok).toBe(false);
    const problems: string[] = result.results[0].problems;
    // Either the format's own check (CRC, gzip/bzip2 data) or the SHA-256, and always the SHA-256 when the read got through.
    expect(problems.join('\n')).toMatch(/SHA-256|CRC|damaged/);
    expect(problems.join('\n')).toContain(path.basename(archive));
  });

  it('catches a truncated archive', async () => {
    const { dir, archive } = await backup(format);
    const { size } = await fs.stat(archive);
    await fs.truncate(archive, Math.floor(size * 0.6));
    const { code, result } = await verify(dir, archive);
    expect(code).toBe(1);
    expect(result.results[0].problems.join('\n')).toMatch(/truncated|ends early|end record/);
  });

  it('catches a tampered .sha256 sidecar', async () => {
    const { dir, archive } = await backup(format);
    const line = await fs.readFile(`${archive}.sha256`, 'utf8');
    await fs.writeFile(`${archive}.sha256`, `${line[0] === '0' ? '1' : '0'}${line.slice(1)}`);
    const { code, result } = await verify(dir, archive);
    expect(code).toBe(1);
    expect(result.results[0].problems).toEqual([expect.stringMatching(/\.sha256 says/)]);
  });

  it('catches a manifest whose entry count is wrong', async () => {
    const { dir, archive } = await backup(format);
    const manifest = JSON.parse(await fs.readFile(`${archive}.manifest.json`, 'utf8'));
    manifest.entries += 1;
    await fs.writeFile(`${archive}.manifest.json`, JSON.stringify(manifest));
    const { code, result } = await verify(dir, archive);
    expect(code).toBe(1);
    expect(result.results[0].problems).toEqual([`entries: the archive has ${manifest.entries - 1}, the manifest says ${manifest.entries}`]);
  });
});

describe('verify', () => {
  it('a missing sidecar fails, naming it', async () => {
    const { dir, archive } = await backup('tar.gz');
    await fs.rm(`${archive}.sha256`);
    const { code, result } = await verify(dir, archive);
    expect(code).toBe(1);
    expect(result.results[0].problems).toEqual([`${path.basename(archive)}.sha256 is missing`]);
  });

  it('--all checks every backup of the folder and fails if one is bad', async () => {
    const { dir, archive } = await backup('zip');
    const second = parseJsonResult(await runCli(['run', '--source', 'data', '--dest', 'backups', '--format', 'tar.gz', '--name', 'second', '--json'], { cwd: dir }));
    expect(second.exitCode).toBe(0);
    let { code, result } = await verify(dir, '--all', '--dest', 'backups');
    expect(code).toBe(0);
    expect(result.results).toHaveLength(2);
    await fs.truncate(archive, 100);
    ({ code, result } = await verify(dir, '--all', '--dest', 'backups'));
    expect(code).toBe(1);
    expect(result.results.map((r: any) => r.ok).sort()).toEqual([false, true]);
    const human = await runCli(['verify', '--all', '--dest', 'backups'], { cwd: dir });
    expect(human.stdout).toContain('2 backup(s) verified: 1 OK, 1 FAILED');
  });

  it('a path that does not exist is a usage error (exit 2)', async () => {
    const dir = await tempDir();
    const run = await runCli(['verify', 'backups/nope.tar.gz'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nope.tar.gz does not exist');
  });

  it('without an archive or --all it says what to give (exit 2)', async () => {
    const dir = await tempDir();
    const run = await runCli(['verify'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Give an archive path .* or --all/);
  });
});

describe('verify of malformed zips', () => {
  it('a zip64 locator pointing past the end is reported as damage (exit 1), not a crash', async () => {
    const dir = await tempDir();
    // An end record that needs zip64 (0xFFFF entries), preceded by a locator pointing 1 GB away.
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(1_000_000_000n, 8);
    locator.writeUInt32LE(1, 16);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(0xffff, 8);
    end.writeUInt16LE(0xffff, 10);
    end.writeUInt32LE(0xffffffff, 12);
    end.writeUInt32LE(0xffffffff, 16);
    await fs.writeFile(path.join(dir, 'bad.zip'), Buffer.concat([locator, end]));
    const { code, result } = await verify(dir, 'bad.zip');
    expect(code).toBe(1);
    expect(result.results[0].problems.join('\n')).toMatch(/bad\.zip: the zip64 (end record|locator) points past the end of the archive/);
  });
});

describe('verify: only the user cancels', () => {
  it.each([
    // Zeros after the gzip data are read (gzip ignores them); the file is not the one the sidecar and manifest describe.
    ['has zero bytes appended', (file: string) => fs.appendFile(file, Buffer.alloc(20_000)), /\.sha256 says[\s\S]*archive size: the archive has/],
    ['is truncated', async (file: string) => fs.truncate(file, Math.floor((await fs.stat(file)).size / 2)), /ends early|truncated/],
  ])('--all reports all three backups, exit 1, when the middle one %s', async (_what, damage, message) => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archives: string[] = [];
    for (const name of ['first', 'middle', 'last']) {
      const run = parseJsonResult(await runCli(['run', '--source', 'data', '--dest', 'backups', '--format', 'tar.gz', '--name', name, '--json'], { cwd: dir }));
      expect(run.exitCode).toBe(0);
      archives.push(path.join(dir, run.archive as string));
    }
    await damage(archives[1]!);
    const run = await runCli(['verify', '--all', '--dest', 'backups', '--json'], { cwd: dir });
    expect(run.code, run.stderr).toBe(1);
    const result = parseJsonResult(run);
    expect(result.error.code).toBe('VERIFY_FAILED');
    const byLocation = new Map(result.results.map((r: any) => [r.location, r]));
    expect([...byLocation.keys()].sort()).toEqual([...archives].sort());
    expect(byLocation.get(archives[0]!)).toMatchObject({ ok: true });
    expect(byLocation.get(archives[2]!)).toMatchObject({ ok: true });
    const middle = byLocation.get(archives[1]!) as { ok: boolean; problems: string[] };
    expect(middle.ok).toBe(false);
    expect(middle.problems.join('\n')).toMatch(message);
    expect(middle.problems.join('\n')).toContain(path.basename(archives[1]!));
    expect(run.stderr).not.toMatch(/Cancelled/);
  });

  it('--all goes on past a backup that cannot be read at all (no bzip2 on PATH), and names it', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archives: string[] = [];
    for (const [name, format] of [['first', 'tar.gz'], ['middle', 'tar.bz2'], ['last', 'zip']] as const) {
      const run = parseJsonResult(await runCli(['run', '--source', 'data', '--dest', 'backups', '--format', format, '--name', name, '--json'], { cwd: dir }));
      expect(run.exitCode).toBe(0);
      archives.push(path.join(dir, run.archive as string));
    }
    const run = await runCli(['verify', '--all', '--dest', 'backups', '--json'], { cwd: dir, env: { PATH: '/nonexistent' } });
    expect(run.code, run.stderr).toBe(1);
    const results = parseJsonResult(run).results as Array<{ location: string; ok: boolean; problems: string[] }>;
    expect(results.map((r) => [path.basename(r.location), r.ok]).sort()).toEqual(
      [[path.basename(archives[0]!), true], [path.basename(archives[1]!), false], [path.basename(archives[2]!), true]].sort(),
    );
    expect(results.find((r) => !r.ok)!.problems.join('\n')).toMatch(/needs the lbzip2 or bzip2 program/);
  });

  it('zero padding after the gzip data (what bsdtar -czf - writes) reads to the end; anything else after it is damage, with where', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    execFileSync('sh', ['-c', 'bsdtar -czf - data > padded.tar.gz && sha256sum padded.tar.gz > padded.tar.gz.sha256'], { cwd: dir });
    const padded = await fs.readFile(path.join(dir, 'padded.tar.gz'));
    expect(padded.subarray(-16)).toEqual(Buffer.alloc(16));
    let run = await runCli(['verify', 'padded.tar.gz', '--json'], { cwd: dir });
    let [outcome] = parseJsonResult(run).results;
    expect(outcome.checks.find((c: { name: string }) => c.name === 'read')).toMatchObject({ ok: true });
    expect(outcome.checks.find((c: { name: string }) => c.name === 'sha256')).toMatchObject({ ok: true });
    expect(outcome.bytes).toBe(padded.length);
    expect(outcome.problems).toEqual([expect.stringMatching(/no manifest/)]);

    await fs.writeFile(path.join(dir, 'garbage.tar.gz'), Buffer.concat([padded, Buffer.from('appended')]));
    run = await runCli(['verify', 'garbage.tar.gz', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    [outcome] = parseJsonResult(run).results;
    expect(outcome.checks.find((c: { name: string }) => c.name === 'read').detail).toMatch(
      new RegExp(`garbage\\.tar\\.gz: the gzip data ends at byte \\d+, and what follows it is not zeros \\(from byte ${padded.length}\\)`),
    );
  });

  it.each(['zip', 'tar.gz'])('random bytes named .%s are damage with what and where (exit 1), never "Cancelled"', async (format) => {
    const dir = await tempDir();
    for (let i = 0; i < 5; i++) {
      const name = `random-${i}.${format}`;
      await fs.writeFile(path.join(dir, name), randomBytes(1000 + i * 70_000));
      const run = await runCli(['verify', name, '--json'], { cwd: dir });
      expect(run.code, run.stdout + run.stderr).toBe(1);
      const [outcome] = parseJsonResult(run).results;
      const read = outcome.checks.find((c: { name: string }) => c.name === 'read');
      expect(read.ok).toBe(false);
      expect(read.detail).toContain(name);
      expect(read.detail).toMatch(/damaged|truncated|not a zip|end record|gzip|bzip2|header/);
    }
  });
});

describe('verify records its outcome without following planted links', () => {
  it('a symlink at the old predictable temporary name, or at the final name, never makes it write another file', async () => {
    const { dir, archive } = await backup('tar.gz');
    const victim = path.join(dir, 'victim.txt');
    await fs.writeFile(victim, 'precious\n');
    const record = `${archive}.verified.json`;
    await fs.symlink(victim, record);
    // The name used to be NAME.verified.json.tmp-PID: planted as soon as the process exists, long
    // before it has read the archive; and a guess of other pids.
    for (let pid = 2; pid < 400; pid++) await fs.symlink(victim, `${record}.tmp-${pid}`);
    const run = await runCli(['verify', archive, '--json'], {
      cwd: dir,
      onSpawn: (child) => {
        try {
          symlinkSync(victim, `${record}.tmp-${child.pid}`);
        } catch {
          // already planted by the guess
        }
      },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(await fs.readFile(victim, 'utf8')).toBe('precious\n');
    // The link at the final name was replaced by the record itself.
    expect((await fs.lstat(record)).isFile()).toBe(true);
    expect(JSON.parse(await fs.readFile(record, 'utf8')).ok).toBe(true);
  });
});

describe('verify NAME: the names `backup list` prints', () => {
  it('are looked up in --dest from any working folder, and in the settings\' destination', async () => {
    const { dir, archive } = await backup('zip');
    const dest = path.join(dir, 'backups');
    const listed = parseJsonResult(await runCli(['list', '--dest', dest, '--json'], { cwd: dir }));
    const name: string = listed.locations[0].backups[0].name;
    expect(name).toBe(path.basename(archive));

    const elsewhere = await tempDir();
    let run = await runCli(['verify', name, '--dest', dest, '--json'], { cwd: elsewhere });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(parseJsonResult(run).results[0].location).toBe(archive);

    // No --dest: the settings file's destination.
    await fs.mkdir(path.join(elsewhere, 'config'));
    await fs.writeFile(path.join(elsewhere, 'config', 'settings.json'), JSON.stringify({ sources: [path.join(dir, 'data')], destination: dest }));
    run = await runCli(['verify', name, '--json'], { cwd: elsewhere });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(parseJsonResult(run).results[0].location).toBe(archive);

    // Not there: a usage error that says where it looked.
    run = await runCli(['verify', 'nope-20260101-000000.zip', '--dest', dest], { cwd: elsewhere });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`nope-20260101-000000.zip is not in ${dest}`);
  });
});
