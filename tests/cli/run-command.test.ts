/**
 * `backup run` as cron runs it: a real subprocess with no terminal. Exit
 * codes, the --json contract, the ZIP fallback, naming clashes, and every
 * bad input a user can produce.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

describe('exit codes and the --json result', () => {
  it('missing source: exit 2, one JSON object naming the path, nothing written', async () => {
    const root = await tempDir();
    const run = await runCli(['run', '-s', 'nope', '-d', 'out', '--json'], { cwd: root });
    expect(run.code).toBe(2);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: false, exitCode: 2, archive: null, error: { code: 'SOURCE_NOT_FOUND' } });
    expect(result.error.message).toContain(path.join(root, 'nope'));
    expect(await listDir(root)).toEqual(['logs']);
  });

  it('a destination that is a file, or below one: exit 2, says so, writes nothing', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.writeFile(path.join(root, 'afile'), 'x');
    for (const [dest, why] of [
      ['afile', /afile cannot be used: it is a file, not a folder/],
      ['afile/sub', new RegExp(`afile/sub cannot be used: ${path.join(root, 'afile')} is not a folder\\.`)],
      ['afile/sub/deeper', new RegExp(`afile/sub/deeper cannot be used: ${path.join(root, 'afile')} is not a folder\\.`)],
    ] as const) {
      for (const dryRun of [[], ['--dry-run']]) {
        const run = await runCli(['run', '-s', 'data', '-d', dest, '--json', ...dryRun], { cwd: root });
        expect(run.code).toBe(2);
        expect(parseJsonResult(run).error).toMatchObject({ code: 'DESTINATION_NOT_DIR', message: expect.stringMatching(why) });
      }
    }
    expect(await fs.readFile(path.join(root, 'afile'), 'utf8')).toBe('x');
  });

  it.each(['/proc/backups', '/proc/backups/deeper', '/sys/backups'])(
    'a destination on a kernel file system (%s) fails at once with a clear message, real run and dry run alike',
    async (dest) => {
      // Node 20's recursive mkdir loops forever there (ENOENT, retry parent, EEXIST, retry ...).
      const root = await tempDir();
      await makeRichTree(root);
      for (const extra of [[], ['--dry-run']]) {
        const run = await runCli(['run', '-s', 'data', '-d', dest, '--json', ...extra], { cwd: root });
        expect(run.code, run.stderr).toBe(1);
        const result = parseJsonResult(run);
        expect(result.error).toMatchObject({ code: 'DESTINATION_NOT_CREATABLE', message: expect.stringMatching(/Cannot create the destination folder .*(proc|sysfs) file system, which cannot hold files/) });
        expect(result.destinations).toMatchObject([{ name: 'local', ok: false, location: dest }]);
      }
    },
  );

  it('a source that is a dangling symlink: exit 2, names the missing target', async () => {
    const root = await tempDir();
    await fs.symlink('nowhere', path.join(root, 'link'));
    const run = await runCli(['run', '-s', 'link', '-d', 'out'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/link is a symbolic link to nowhere, which does not exist/);
  });

  it('no source at all: exit 2 and says how to give one', async () => {
    const root = await tempDir();
    const run = await runCli(['run', '-d', 'out'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--source/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
  });

  it('unknown flag: exit 2 with commander message; with --json still one JSON object', async () => {
    const root = await tempDir();
    const run = await runCli(['run', '--sorce', 'x'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option '--sorce'/);
    const json = await runCli(['run', '--bogus', '--json'], { cwd: root });
    expect(json.code).toBe(2);
    expect(parseJsonResult(json)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'USAGE' } });
  });

  it('an unknown command: exit 2, says "unknown command", not a wizard error', async () => {
    const root = await tempDir();
    const run = await runCli(['lsit'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown command 'lsit'/);
    expect(run.stderr).not.toMatch(/too many arguments/);
  });

  it('unknown format: warning, zip written, exit 0, both formats recorded', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', '7z', '-n', 'x', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: true, format: 'zip', requestedFormat: '7z', archive: 'out/x.zip' });
    expect(result.warnings.join('\n')).toMatch(/Unsupported format "7z"/);
    expect(run.stderr).toMatch(/warning: Unsupported format "7z"/);
    execFileSync('unzip', ['-tq', path.join(root, 'out/x.zip')]);
    const manifest = JSON.parse(await fs.readFile(path.join(root, 'out/x.zip.manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ formatRequested: '7z', format: 'zip' });
    expect(await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8')).toMatch(/WARN .*Unsupported format "7z"/);
  });

  it('tar.bz2 without lbzip2 or bzip2 on PATH: falls back to zip with a warning', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.bz2', '-n', 'x', '--json'], {
      cwd: root,
      env: { PATH: path.join(root, 'no-such-bin') },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonResult(run)).toMatchObject({ format: 'zip', requestedFormat: 'tar.bz2', archive: 'out/x.zip' });
    expect(run.stderr).toMatch(/neither was found/);
    execFileSync('unzip', ['-tq', path.join(root, 'out/x.zip')]);
  });
});

describe('--threads', () => {
  it.each(['999', '257', '0', 'two'])('--threads %s: exit 2, says the allowed range, writes nothing', async (value) => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--threads', value, '--json'], { cwd: root });
    expect(run.code).toBe(2);
    expect(parseJsonResult(run).error).toMatchObject({ code: 'USAGE', message: expect.stringMatching(/--threads .*from 1 to 256/) });
    expect(await listDir(root)).not.toContain('out');
  });

  it('--threads 256 is accepted, and never starts more compression workers than cores', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--threads', '256', '-n', 'x', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    const started = (await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8')).split('\n').find((l) => l.includes('backup started'))!;
    expect(JSON.parse(started.slice(started.indexOf('{'))).threads).toBe(os.availableParallelism());
  });
});

describe('bzip2 compressors', () => {
  it.each(['lbzip2', 'bzip2'])('tar.bz2 through %s alone on PATH reads back with tar -xjf', async (tool) => {
    const root = await tempDir();
    await makeRichTree(root);
    const bin = path.join(root, 'bin-only');
    await fs.mkdir(bin);
    const found = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    await fs.symlink(found, path.join(bin, tool));
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.bz2', '-n', 'x', '--json'], {
      cwd: root,
      env: { PATH: bin },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonResult(run)).toMatchObject({ format: 'tar.bz2', archive: 'out/x.tar.bz2' });
    execFileSync('bzip2', ['-t', path.join(root, 'out/x.tar.bz2')]);
    expect(execFileSync('tar', ['-tjf', path.join(root, 'out/x.tar.bz2')], { encoding: 'utf8' })).toMatch(/^data\/readme\.txt$/m);
  });
});

describe('never overwrites', () => {
  it('a clash gets -1, -2; an existing file is left untouched', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.mkdir(path.join(root, 'out'));
    await fs.writeFile(path.join(root, 'out/n.tar.gz'), 'precious');
    const names: string[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'n', '--json'], { cwd: root });
      expect(run.code, run.stderr).toBe(0);
      names.push(parseJsonResult(run).archive);
    }
    expect(names).toEqual(['out/n-1.tar.gz', 'out/n-2.tar.gz']);
    expect(await fs.readFile(path.join(root, 'out/n.tar.gz'), 'utf8')).toBe('precious');
  });

  it('a leftover sidecar (no archive) makes the name taken: the next name is used, the leftover untouched', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.mkdir(path.join(root, 'out'));
    await fs.writeFile(path.join(root, 'out/n.tar.gz.manifest.json'), 'theirs');
    await fs.chmod(path.join(root, 'out/n.tar.gz.manifest.json'), 0o444);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'n', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonResult(run).archive).toBe('out/n-1.tar.gz');
    expect(await fs.readFile(path.join(root, 'out/n.tar.gz.manifest.json'), 'utf8')).toBe('theirs');
    execFileSync('sha256sum', ['-c', 'n-1.tar.gz.sha256'], { cwd: path.join(root, 'out') });
  });

  it('four jobs at the same moment with the same name all get their own complete archive', async () => {
    const root = await tempDir();
    for (const i of [0, 1, 2, 3]) await makeRichTree(root, `data${i}`);
    const runs = await Promise.all(
      [0, 1, 2, 3].map((i) => runCli(['run', '-s', `data${i}`, '-d', 'out', '-n', 'same', '--json'], { cwd: root })),
    );
    const archives = runs.map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return parseJsonResult(r).archive as string;
    });
    expect(new Set(archives).size).toBe(4);
    for (const archive of archives) execFileSync('tar', ['-tzf', path.join(root, archive)]);
    execFileSync('sh', ['-c', 'sha256sum -c *.sha256'], { cwd: path.join(root, 'out') });
    expect((await listDir(path.join(root, 'out'))).filter((f) => f.endsWith('.partial') || f.includes('.lock'))).toEqual([]);
  });

  it('four runs of the same job at the same moment: each either completes or is refused by the lock, never both at once', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const runs = await Promise.all([0, 1, 2, 3].map(() => runCli(['run', '-s', 'data', '-d', 'out', '-n', 'same', '--json'], { cwd: root })));
    const results = runs.map(parseJsonResult);
    for (const result of results) expect(result.exitCode === 0 || result.error?.code === 'LOCKED', JSON.stringify(result)).toBe(true);
    const done = results.filter((r) => r.exitCode === 0).map((r) => r.archive as string);
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(new Set(done).size).toBe(done.length);
    for (const archive of done) execFileSync('tar', ['-tzf', path.join(root, archive)]);
    expect((await listDir(path.join(root, 'out'))).filter((f) => f.endsWith('.partial') || f.includes('.lock'))).toEqual([]);
  });
});

describe('settings.json', () => {
  async function withSettings(content: string): Promise<{ root: string; file: string }> {
    const root = await tempDir();
    await makeRichTree(root);
    const file = path.join(root, 'config/settings.json');
    await fs.mkdir(path.dirname(file));
    await fs.writeFile(file, content);
    return { root, file };
  }

  it.each([
    ['{ "sources": ["data"], }', /not valid JSON at line 1, column 2\d/],
    ['{\n  "sources": ["data"]\n  "destination": "out"\n}', /not valid JSON at line 3, column 3/],
    ['{ "sources": ["data"]', /not valid JSON/],
    ['[]', /expected a JSON object/],
    ['{ "sources": ["data"], "destination": 5 }', /destination: expected a string, got number 5/],
    ['{ "sources": "data" }', /sources: expected a list \(JSON array\), got string "data"/],
    ['{ "sources": ["data", "missing"] }', /sources\[1\]: path does not exist/],
    ['{ "sources": ["data"], "destinaton": "out" }', /destinaton: unknown setting \(did you mean "destination"\?\)/],
    ['{ "sources": ["data"], "s3": { "bucket": "" } }', /s3\.bucket: must not be empty/],
    ['{ "sources": ["data"], "strict": "yes" }', /strict: expected true or false/],
  ])('%j is refused whole with exit 2: %s', async (content, message) => {
    const { root, file } = await withSettings(content);
    const run = await runCli(['run', '--json'], { cwd: root });
    expect(run.code).toBe(2);
    const result = parseJsonResult(run);
    expect(result.error.code).toBe('CONFIG_INVALID');
    expect(result.error.message).toContain(file);
    expect(result.error.message).toMatch(message);
    expect(await listDir(root)).not.toContain('backups');
  });

  it("a file's paths that flags override are not checked", async () => {
    const { root } = await withSettings(JSON.stringify({ sources: ['/srv/not-here'], destination: 'readme-file' }));
    await fs.writeFile(path.join(root, 'readme-file'), 'a file, not a folder');
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonResult(run).archive).toBe('out/x.tar.gz');
    const without = await runCli(['run', '--json'], { cwd: root });
    expect(without.code).toBe(2);
    expect(parseJsonResult(without).error.message).toMatch(/sources\[0\]: path does not exist/);
  });

  it('a --config that does not exist: exit 2, says so', async () => {
    const root = await tempDir();
    const run = await runCli(['run', '--config', 'nope.json'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/nope\.json: settings file not found/);
  });

  it('flags override the file; flags not given do not', async () => {
    const { root } = await withSettings(
      JSON.stringify({ sources: ['data'], destination: 'from-file', format: 'tar.bz2', name: 'file-{date}' }),
    );
    // Default config/settings.json is picked up without --config.
    const fileOnly = parseJsonResult(await runCli(['run', '--json'], { cwd: root }));
    expect(fileOnly.archive).toMatch(/^from-file\/file-\d{8}\.tar\.bz2$/);
    const withFlags = parseJsonResult(await runCli(['run', '--json', '-f', 'zip', '-n', 'flag'], { cwd: root }));
    expect(withFlags.archive).toBe('from-file/flag.zip');
  });
});

describe('dry run', () => {
  it('lists what would be archived and where, and writes nothing', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--dry-run'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^data\/readme\.txt$/m);
    expect(run.stdout).toMatch(/^data\/empty-folder\/$/m);
    expect(run.stdout).toMatch(/would write out\/x\.tar\.gz/);
    expect(await listDir(root)).not.toContain('out');
  });
});

describe('log file', () => {
  it('writes one line per event with an ISO timestamp and level, to --log-file when given', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--log-file', 'custom/run.log'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    const lines = (await fs.readFile(path.join(root, 'custom/run.log'), 'utf8')).trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[run \d+\] (DEBUG|INFO |WARN |ERROR) /);
    expect(lines[0]).toMatch(/backup started .*"sources":\[/);
    expect(lines.at(-1)).toMatch(/backup complete .*"sha256":"[0-9a-f]{64}"/);
  });
});
