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
  it.each([
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

  it('after a --strict failure, --json lists the skipped file', async () => {
    const { root, src } = await awkwardRoot();
    await fs.rm(path.join(src, 'pipe'));
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--strict', '--json'], { cwd: root, asUser: NOBODY });
    expect(run.code).toBe(1);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: false, error: { code: 'SOURCE_FILE_UNREADABLE' } });
    expect(result.skipped).toEqual([{ path: path.join(src, 'secret.key'), reason: expect.stringMatching(/permission denied/) }]);
  });
});
