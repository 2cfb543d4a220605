/**
 * `backup verify NAME` with the name `backup list` prints for an S3
 * destination: looked up in the bucket (and prefix) given, from any working
 * folder, against the suite's real S3 server.
 */
import { describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
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
  });
});
