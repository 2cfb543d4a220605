/**
 * `backup verify NAME` / `backup restore NAME` with the name `backup list`
 * prints for an S3 destination (and a local one): looked up in the bucket (and prefix) given, from any working
 * folder, against the suite's real S3 server.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeTree, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { freshBucket, s3Env } from '../helpers/s3.js';

describe('verify NAME on S3', () => {
  it('finds the name `backup list` printed in --s3-bucket / --s3-prefix', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const bucket = await freshBucket();
    const env = s3Env();
    const where = ['--s3-bucket', bucket, '--s3-prefix', 'p/'];
    const run = parseJsonResult(await runCli(['run', '-s', 'data', '-f', 'zip', '-n', 'nightly', ...where, '--no-local', '--json'], { cwd: dir, env }));
    expect(run.ok).toBe(true);
    const listed = parseJsonResult(await runCli(['list', ...where, '--json'], { cwd: dir, env }));
    const name: string = listed.locations[0].backups[0].name;
    expect(`p/${name}`).toBe(run.s3.key);

    const elsewhere = await tempDir();
    const verify = await runCli(['verify', name, ...where, '--json'], { cwd: elsewhere, env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(parseJsonResult(verify).results[0].location).toBe(`s3://${bucket}/p/${name}`);

    // Not there: where it looked.
    const missing = await runCli(['verify', 'nope.zip', ...where], { cwd: elsewhere, env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`nope.zip is not in s3://${bucket}/p/`);

    // restore takes the same name, from the same place, and gives back the source.
    const restored = await runCli(['restore', name, ...where, '--to', 'out', '--json'], { cwd: elsewhere, env });
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(await describeTree(path.join(elsewhere, 'out', 'data'))).toEqual(await describeTree(path.join(dir, 'data')));
  });

  it('restore NAME --dest DIR finds a local backup from another working folder', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const run = parseJsonResult(await runCli(['run', '-s', 'data', '-d', 'backups', '-f', 'tar.gz', '--json'], { cwd: dir }));
    expect(run.ok).toBe(true);
    const name = path.basename(run.archive);
    const elsewhere = await tempDir();
    const restored = await runCli(['restore', name, '--dest', path.join(dir, 'backups'), '--to', 'out'], { cwd: elsewhere });
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(await describeTree(path.join(elsewhere, 'out', 'data'))).toEqual(await describeTree(path.join(dir, 'data')));
  });
});
