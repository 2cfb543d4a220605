/**
 * `backup verify` against real archives made by `backup run`, damaged in the
 * ways disks and people damage them: a flipped byte, a cut-off end, an
 * edited sidecar, a manifest that disagrees, a missing sidecar.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

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
