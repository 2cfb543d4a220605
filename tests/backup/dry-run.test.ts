/**
 * The dry run predicts the real run: same walk, same skips, same --strict
 * rule, same exit code, for the same input. And a --strict failure lists
 * what it skipped.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { s3Env } from '../helpers/s3.js';
import { IS_ROOT, itAsRoot } from '../helpers/root.js';

const NOBODY = 65534;

/** A tree with one unreadable file (for nobody) and a FIFO, owned by nobody. */
async function awkwardRoot(): Promise<{ root: string; src: string }> {
  const root = await tempDir();
  const src = await makeRichTree(root);
  await fs.writeFile(path.join(src, 'secret.key'), 'top secret');
  await fs.chmod(path.join(src, 'secret.key'), 0o000);
  execFileSync('mkfifo', [path.join(src, 'pipe')]);
  execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
  return { root, src };
}

describe('dry run predicts the real run', () => {
  (IS_ROOT ? it : it.skip).each([
    ['without --strict', [], 3],
    ['with --strict', ['--strict'], 1],
  ] as const)('%s: the dry run exits as the real run does, listing the same skips', async (_name, extra, expected) => {
    const { root, src } = await awkwardRoot();
    const dry = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--json', '--dry-run', ...extra], { cwd: root, asUser: NOBODY });
    expect(await listDir(root)).not.toContain('out');
    const real = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--json', ...extra], { cwd: root, asUser: NOBODY });
    expect(dry.code, dry.stderr).toBe(expected);
    expect(real.code, real.stderr).toBe(expected);
    const dryResult = parseJsonResult(dry);
    const realResult = parseJsonResult(real);
    expect(dryResult.exitCode).toBe(realResult.exitCode);
    expect(dryResult.error?.code ?? null).toBe(realResult.error?.code ?? null);
    // --strict stops at the first skip; both list it (a failed run lists what it skipped).
    expect(realResult.skipped.length).toBeGreaterThan(0);
    expect(dryResult.skipped).toEqual(realResult.skipped);
    for (const skip of realResult.skipped) expect([path.join(src, 'secret.key'), path.join(src, 'pipe')]).toContain(skip.path);
  });

  itAsRoot('after a --strict failure, --json lists the skipped file', async () => {
    const { root, src } = await awkwardRoot();
    await fs.rm(path.join(src, 'pipe'));
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--strict', '--json'], { cwd: root, asUser: NOBODY });
    expect(run.code).toBe(1);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: false, error: { code: 'SOURCE_FILE_UNREADABLE' } });
    expect(result.skipped).toEqual([{ path: path.join(src, 'secret.key'), reason: expect.stringMatching(/permission denied/) }]);
  });

  it('an S3 bucket that does not exist: the dry run exits 1 as the real run does, naming it, and writes nothing', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const args = ['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', 'no-such-bucket-here', '--json'];
    const dry = await runCli([...args, '--dry-run'], { cwd: root, env: s3Env() });
    expect(dry.code, dry.stderr).toBe(1);
    expect(await listDir(root)).not.toContain('out');
    const result = parseJsonResult(dry);
    expect(result).toMatchObject({ ok: false, exitCode: 1, dryRun: true, error: { code: 'S3_NO_SUCH_BUCKET' } });
    expect(result.error.message).toMatch(/^S3 destination s3:\/\/no-such-bucket-here\/ failed: .*The backup would still be written to .*out\/x\.tar\.gz\.$/);
    expect(result.destinations.map((d: { name: string; ok: boolean }) => [d.name, d.ok])).toEqual([
      ['local', true],
      ['s3', false],
    ]);
    const real = await runCli(args, { cwd: root, env: s3Env() });
    expect(real.code).toBe(1);
  });
});
