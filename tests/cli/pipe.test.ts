/**
 * stdout into a pipe, as people use it: `backup list | less`,
 * `backup verify --all | head -1`. Everything written reaches the reader
 * (exit must not cut a pipe short), and a reader that goes away ends the
 * output quietly: no EPIPE crash, the command's own exit code.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { BIN, runCli } from '../helpers/cli.js';

/** Runs a bash pipeline; returns the backup process's exit code (PIPESTATUS[0]), its stderr and the pipeline's stdout. */
function pipeline(command: string, cwd: string): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${command} 2>backup.err; echo "exit=\${PIPESTATUS[0]}" >backup.code`], {
      cwd,
      env: { ...process.env, BACKUP: `"${process.execPath}" "${BIN}"` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', async () => {
      const code = Number((await fs.readFile(path.join(cwd, 'backup.code'), 'utf8')).trim().replace('exit=', ''));
      resolve({ code, stdout, stderr: await fs.readFile(path.join(cwd, 'backup.err'), 'utf8') });
    });
  });
}

describe('stdout into a pipe', () => {
  it('a long listing reaches the reader whole (more than a pipe buffer)', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'b'));
    for (let i = 0; i < 1500; i += 1) await fs.writeFile(path.join(root, 'b', `backup-${i}.tar.gz`), '');
    const direct = await runCli(['list', '--dest', 'b', '--json'], { cwd: root });
    expect(direct.stdout.length).toBeGreaterThan(200_000);
    const piped = await pipeline('eval "$BACKUP list --dest b --json" | cat', root);
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout).locations[0].backups).toHaveLength(1500);
    // And the reader going away after one byte: quiet, exit 0.
    const head = await pipeline('eval "$BACKUP list --dest b" | head -c1', root);
    expect(head.stdout).toHaveLength(1);
    expect(head.stderr).toBe('');
    expect(head.code).toBe(0);
  });

  it('backup verify --all | head -1: no EPIPE crash, the command finishes with its own code', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    await fs.writeFile(path.join(root, 'data/f.txt'), 'hello');
    for (const name of ['a', 'b', 'c', 'd']) {
      const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', name, '-f', 'zip'], { cwd: root });
      expect(run.code, run.stderr).toBe(0);
    }
    const head = await pipeline('eval "$BACKUP verify --all --dest out" | head -1', root);
    expect(head.stdout).toMatch(/^OK {6}\S+\n$/);
    expect(head.stderr).not.toMatch(/EPIPE|Unhandled|Error/);
    expect(head.stderr).toBe('');
    expect(head.code).toBe(0);
    // Every backup was still verified (and recorded).
    for (const name of ['a', 'b', 'c', 'd']) await fs.access(path.join(root, 'out', `${name}.zip.verified.json`));
  });
});
