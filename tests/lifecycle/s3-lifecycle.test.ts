/**
 * list / verify / restore / prune against the suite's real S3 server (Ceph
 * radosgw on 127.0.0.1), run as a user runs them: the built CLI as a
 * subprocess, credentials and endpoint from the environment. Every claim is
 * read back from the server (objects listed, downloaded, compared) or from
 * the restored files on disk. No mocks, no timing asserts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { describeTree, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli, type CliRun } from '../helpers/cli.js';
import { freshBucket, getObject, listKeys, listUploads, s3Env, testClient } from '../helpers/s3.js';

const FORMATS = ['zip', 'tar.gz', 'tar.bz2'] as const;
type Format = (typeof FORMATS)[number];
const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Runs the CLI in `cwd` against the test server. */
function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(args, { cwd, env: { ...s3Env(), ...env } });
}

/** `backup run` straight to S3 (no local copy); returns the key of the archive. */
async function backupToS3(cwd: string, bucket: string, options: { source?: string; format?: Format; name?: string; prefix?: string } = {}): Promise<{ key: string; name: string; result: Record<string, any> }> {
  const prefix = options.prefix ?? 'p/';
  const run = await cli(cwd, [
    'run',
    '-s',
    options.source ?? 'data',
    '-f',
    options.format ?? 'tar.gz',
    '-n',
    options.name ?? 'nightly',
    '--s3-bucket',
    bucket,
    '--s3-prefix',
    prefix,
    '--no-local',
    '--json',
  ]);
  expect(run.code, run.stderr).toBe(0);
  const result = parseJsonResult(run);
  expect(result).toMatchObject({ ok: true, archive: null, s3: { bucket } });
  const key = result.s3.key as string;
  expect(key.startsWith(prefix)).toBe(true);
  return { key, name: key.slice(prefix.length), result };
}

async function putObject(bucket: string, key: string, body: Buffer | string): Promise<void> {
  await testClient().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

async function deleteObject(bucket: string, key: string): Promise<void> {
  await testClient().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** The backups `backup list --json` shows for the one S3 location. */
async function listBackups(cwd: string, bucket: string, prefix = 'p/'): Promise<Array<Record<string, any>>> {
  const run = await cli(cwd, ['list', '--s3-bucket', bucket, '--s3-prefix', prefix, '--json']);
  expect(run.code, run.stderr).toBe(0);
  const result = parseJsonResult(run);
  expect(result.locations).toHaveLength(1);
  expect(result.locations[0]).toMatchObject({ kind: 's3', location: `s3://${bucket}/${prefix}` });
  return result.locations[0].backups as Array<Record<string, any>>;
}

/** Every regular file's mtime, in whole seconds (what tar and zip's extended timestamp keep). */
async function fileMtimes(root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  async function visit(dir: string, rel: string): Promise<void> {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const stat = await fs.lstat(abs);
      if (stat.isDirectory()) await visit(abs, r);
      else if (stat.isFile()) out.set(r, Math.floor(stat.mtimeMs / 1000));
    }
  }
  await visit(root, '');
  return out;
}

describe.each(FORMATS)('S3 round trip: %s', (format) => {
  it('run --no-local, list, verify (recorded), restore: the tree comes back byte for byte', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    // Times in the past, clearly different per file, so a restore that leaves "now" is caught.
    let t = Date.UTC(2024, 0, 15, 10, 30, 17) / 1000;
    for (const [rel, entry] of await describeTree(src)) {
      if (entry.type === 'file') await fs.utimes(path.join(src, rel), t, t);
      t += 3601;
    }
    const bucket = await freshBucket();
    const { key, name, result } = await backupToS3(root, bucket, { format });
    expect(name).toBe(`nightly.${format}`);
    expect(await listKeys(bucket)).toEqual([key, `${key}.manifest.json`, `${key}.sha256`]);
    expect(await listUploads(bucket)).toEqual([]);

    // list: managed, with its sources and file count, never verified yet.
    const before = await listBackups(root, bucket);
    expect(before).toHaveLength(1);
    expect(before[0]).toMatchObject({
      name,
      format,
      managed: true,
      unmanagedReason: null,
      sources: [src],
      files: 9,
      bytes: result.bytes,
      sha256: result.sha256,
      verifiedAt: null,
      verifiedOk: null,
    });
    expect(result.files).toBe(9);

    // verify from S3: exit 0, and the date is recorded where list finds it.
    const url = `s3://${bucket}/${key}`;
    const verify = await cli(root, ['verify', url, '--json']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    const verified = parseJsonResult(verify);
    expect(verified).toMatchObject({ ok: true, exitCode: 0, error: null });
    expect(verified.results).toHaveLength(1);
    expect(verified.results[0]).toMatchObject({ location: url, ok: true, sha256: result.sha256, bytes: result.bytes, files: 9, problems: [] });
    expect(await listKeys(bucket)).toContain(`${key}.verified.json`);
    const record = JSON.parse((await getObject(bucket, `${key}.verified.json`)).toString());
    expect(record).toMatchObject({ ok: true, sha256: result.sha256 });
    const after = await listBackups(root, bucket);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name, verifiedOk: true, verifiedAt: record.verifiedAt });
    expect(Number.isNaN(Date.parse(after[0]!.verifiedAt))).toBe(false);

    // restore from S3.
    const restore = await cli(root, ['restore', url, '--to', 'restored', '--json']);
    expect(restore.code, restore.stderr + restore.stdout).toBe(0);
    const restored = parseJsonResult(restore);
    expect(restored).toMatchObject({
      ok: true,
      checksum: 'match',
      sha256: result.sha256,
      location: url,
      to: path.join(root, 'restored'),
      files: 9,
      existing: [],
      notRestored: [],
      error: null,
    });
    expect(await listDir(path.join(root, 'restored'))).toEqual(['data']);
    const out = path.join(root, 'restored', 'data');
    expect(await describeTree(out)).toEqual(await describeTree(src));
    expect(await fileMtimes(out)).toEqual(await fileMtimes(src));
    // Nothing was written locally besides the restored tree (and the log).
    expect((await listDir(root)).filter((n) => n !== 'logs')).toEqual(['data', 'restored']);
  });
});

describe('verify from S3 catches damage', () => {
  it.each(FORMATS)('%s: one byte flipped in the middle of the object: exit 1, SHA-256/CRC named, recorded as failed', async (format) => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const { key, result } = await backupToS3(root, bucket, { format });
    const original = await getObject(bucket, key);
    const damaged = Buffer.from(original);
    const middle = Math.floor(damaged.length / 2);
    damaged[middle] = damaged[middle]! ^ 0x01;
    await putObject(bucket, key, damaged);
    expect(sha256(await getObject(bucket, key))).toBe(sha256(damaged));
    expect(sha256(damaged)).not.toBe(result.sha256);

    const url = `s3://${bucket}/${key}`;
    const verify = await cli(root, ['verify', url, '--json']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(1);
    const out = parseJsonResult(verify);
    expect(out).toMatchObject({ ok: false, exitCode: 1, error: { code: 'VERIFY_FAILED' } });
    expect(out.results).toHaveLength(1);
    const outcome = out.results[0];
    expect(outcome.ok).toBe(false);
    expect(outcome.problems.length).toBeGreaterThan(0);
    // zip: "CRC-32 mismatch"; bzip2: "block CRC mismatch"; gzip: zlib's "incorrect data check" is the CRC-32 trailer.
    expect(outcome.problems.join('\n'), 'the problem should name the failed SHA-256 or CRC check').toMatch(/SHA-256|CRC/);
    // list shows the failed verification.
    const [listed] = await listBackups(root, bucket);
    expect(listed).toMatchObject({ verifiedOk: false });
    expect(listed!.verifiedAt).toEqual(expect.any(String));
  });

  it('the .sha256 object deleted: exit 1, naming the missing sidecar', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const { key, name } = await backupToS3(root, bucket, { format: 'tar.gz' });
    await deleteObject(bucket, `${key}.sha256`);
    expect(await listKeys(bucket)).toEqual([key, `${key}.manifest.json`]);

    const verify = await cli(root, ['verify', `s3://${bucket}/${key}`, '--json']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(1);
    const out = parseJsonResult(verify);
    expect(out).toMatchObject({ ok: false, exitCode: 1 });
    expect(out.results[0].ok).toBe(false);
    expect(out.results[0].problems).toContain(`${name}.sha256 is missing`);
    // The archive itself still reads back intact and matches its manifest.
    expect(out.results[0].problems).toHaveLength(1);
  });

  it('an archive that does not exist: a clear error, not a crash', async () => {
    const root = await tempDir();
    const bucket = await freshBucket();
    const verify = await cli(root, ['verify', `s3://${bucket}/p/nope.tar.gz`, '--json']);
    expect(verify.code).toBe(2);
    expect(parseJsonResult(verify)).toMatchObject({ ok: false, error: { code: 'ARCHIVE_NOT_FOUND' } });
  });
});

describe('verify --all on S3', () => {
  it('several backups: exit 0 when all are good; exit 1 naming the one damaged', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const keys: string[] = [];
    for (const format of FORMATS) keys.push((await backupToS3(root, bucket, { format, name: `all-${format.replace('.', '-')}` })).key);
    // Another prefix of the same bucket is not part of p/.
    await backupToS3(root, bucket, { prefix: 'other/', name: 'elsewhere' });

    const all = await cli(root, ['verify', '--all', '--s3-bucket', bucket, '--s3-prefix', 'p/', '--json']);
    expect(all.code, all.stderr + all.stdout).toBe(0);
    const out = parseJsonResult(all);
    expect(out).toMatchObject({ ok: true, exitCode: 0, error: null });
    expect(out.results.map((r: any) => r.location).sort()).toEqual(keys.map((k) => `s3://${bucket}/${k}`).sort());
    expect(out.results.every((r: any) => r.ok === true)).toBe(true);
    for (const key of keys) expect(await listKeys(bucket)).toContain(`${key}.verified.json`);
    expect(await listKeys(bucket)).not.toContain('other/elsewhere.tar.gz.verified.json');

    // Damage one (the .sha256 no longer matches): --all fails and names only that one.
    await putObject(bucket, `${keys[1]}.sha256`, `${'0'.repeat(64)}  ${path.posix.basename(keys[1]!)}\n`);
    const again = await cli(root, ['verify', '--all', '--s3-bucket', bucket, '--s3-prefix', 'p/', '--json']);
    expect(again.code, again.stderr + again.stdout).toBe(1);
    const bad = parseJsonResult(again).results.filter((r: any) => !r.ok);
    expect(bad.map((r: any) => r.location)).toEqual([`s3://${bucket}/${keys[1]}`]);
    expect(bad[0].problems.join('\n')).toMatch(/SHA-256/);
  });
});

describe('prune on S3', () => {
  it("keeps the N newest of the job with all sidecars; other jobs and unmanaged objects untouched; --dry-run deletes nothing", async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await makeRichTree(root, 'other');
    const bucket = await freshBucket();
    const template = 'job-{date}-{time}';

    const ours: string[] = [];
    for (let i = 0; i < 4; i++) ours.push((await backupToS3(root, bucket, { name: template })).key);
    expect(new Set(ours).size).toBe(4);
    const other = (await backupToS3(root, bucket, { name: template, source: 'other' })).key;
    // An archive nobody's manifest describes: a real tar.gz, uploaded by hand.
    execFileSync('tar', ['-czf', path.join(root, 'foreign.tar.gz'), '-C', root, 'data/readme.txt']);
    await putObject(bucket, 'p/foreign.tar.gz', await fs.readFile(path.join(root, 'foreign.tar.gz')));
    // The oldest backup was verified: its .verified.json must go with it.
    const verify = await cli(root, ['verify', `s3://${bucket}/${ours[0]}`, '--json']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);

    const sidecars = (key: string): string[] => [key, `${key}.manifest.json`, `${key}.sha256`];
    const everything = [...ours.flatMap(sidecars), `${ours[0]}.verified.json`, ...sidecars(other), 'p/foreign.tar.gz'].sort();
    expect(await listKeys(bucket)).toEqual(everything);

    const prune = (...extra: string[]): Promise<CliRun> =>
      cli(root, ['prune', '--s3-bucket', bucket, '--s3-prefix', 'p/', '--source', 'data', '--name', template, '--keep-last', '2', '--json', ...extra]);

    // Dry run: the plan, nothing deleted.
    const dry = await prune('--dry-run');
    expect(dry.code, dry.stderr + dry.stdout).toBe(0);
    const plan = parseJsonResult(dry);
    expect(plan).toMatchObject({ ok: true, dryRun: true, policy: { keepLast: 2 } });
    expect(plan.locations).toHaveLength(1);
    const actions = Object.fromEntries(plan.locations[0].backups.map((b: any) => [`p/${b.name}`, b.action]));
    expect(actions).toEqual({
      [ours[3]!]: 'keep',
      [ours[2]!]: 'keep',
      [ours[1]!]: 'remove',
      [ours[0]!]: 'remove',
      [other]: 'ignore',
      'p/foreign.tar.gz': 'ignore',
    });
    expect(plan.locations[0].removed).toEqual([]);
    expect(await listKeys(bucket)).toEqual(everything);

    // The real thing.
    const real = await prune();
    expect(real.code, real.stderr + real.stdout).toBe(0);
    const done = parseJsonResult(real);
    expect(done).toMatchObject({ ok: true, dryRun: false, error: null });
    expect(done.locations[0].failed).toEqual([]);
    const removedFiles = [...sidecars(ours[0]!), `${ours[0]}.verified.json`, ...sidecars(ours[1]!)].map((k) => k.slice('p/'.length)).sort();
    expect([...done.locations[0].removed].sort()).toEqual(removedFiles);

    const left = await listKeys(bucket);
    expect(left).toEqual([...sidecars(ours[2]!), ...sidecars(ours[3]!), ...sidecars(other), 'p/foreign.tar.gz'].sort());
    for (const gone of ours.slice(0, 2)) expect(left.filter((k) => k.startsWith(gone))).toEqual([]);
    expect(await listUploads(bucket)).toEqual([]);

    // What is left still lists and verifies.
    const listed = await listBackups(root, bucket);
    expect(listed.map((b) => `p/${b.name}`).sort()).toEqual([ours[2]!, ours[3]!, other, 'p/foreign.tar.gz'].sort());
    expect(listed.find((b) => b.name === 'foreign.tar.gz')).toMatchObject({ managed: false });

    // Pruning again with the same policy removes nothing more.
    const twice = await prune();
    expect(twice.code, twice.stderr + twice.stdout).toBe(0);
    expect(parseJsonResult(twice).locations[0].removed).toEqual([]);
    expect(await listKeys(bucket)).toEqual(left);
  });

  it('an empty policy exits 2 and deletes nothing', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const template = 'job-{date}-{time}';
    for (let i = 0; i < 2; i++) await backupToS3(root, bucket, { name: template });
    const keys = await listKeys(bucket);

    const base = ['prune', '--s3-bucket', bucket, '--s3-prefix', 'p/', '--source', 'data', '--name', template, '--json'];
    const none = await cli(root, base);
    expect(none.code, none.stderr + none.stdout).toBe(2);
    expect(parseJsonResult(none)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'EMPTY_POLICY' } });
    const zero = await cli(root, [...base, '--keep-last', '0']);
    expect(zero.code, zero.stderr + zero.stdout).toBe(2);
    expect(parseJsonResult(zero)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'EMPTY_POLICY' } });
    expect(await listKeys(bucket)).toEqual(keys);
  });
});

describe('restore of a large archive from S3', () => {
  it('streams a 20 MiB backup into the target; no temporary file anywhere else', async () => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'random.bin'), randomBytes(20 * MiB));
    await fs.writeFile(path.join(src, 'note.txt'), 'hello\n');
    const bucket = await freshBucket();

    for (const format of ['tar.gz', 'zip'] as const) {
      const { key, result } = await backupToS3(root, bucket, { format, name: `big-${format.replace('.', '-')}` });
      expect(result.bytes).toBeGreaterThan(20 * MiB);

      // The CLI's temp folder: must stay empty.
      const tmp = await tempDir('restore-tmp-');
      const parent = await tempDir('restore-parent-');
      const to = path.join(parent, 'restored');
      const restore = await cli(root, ['restore', `s3://${bucket}/${key}`, '--to', to, '--json'], { TMPDIR: tmp, TMP: tmp, TEMP: tmp });
      expect(restore.code, restore.stderr + restore.stdout).toBe(0);
      expect(parseJsonResult(restore)).toMatchObject({ ok: true, checksum: 'match', sha256: result.sha256, files: 2, bytes: 20 * MiB + 6 });
      expect(await describeTree(path.join(to, 'data'))).toEqual(await describeTree(src));
      expect(await listDir(parent)).toEqual(['restored']);
      expect(await listDir(to)).toEqual(['data']);
      expect(await listDir(path.join(to, 'data'))).toEqual(['note.txt', 'random.bin']);
      expect(await listDir(tmp)).toEqual([]);
    }
  });
});

describe('S3 details', () => {
  it('list pages past 1000 keys: a backup listed after 1100 other objects is found', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    // Keys that sort before the backup's, so it is on the second page of ListObjectsV2.
    const client = testClient();
    const names = Array.from({ length: 1100 }, (_, i) => `p/a-${String(i).padStart(5, '0')}.txt`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))));
    }
    const { name } = await backupToS3(root, bucket, { name: 'zz-last' });
    const listed = await listBackups(root, bucket);
    expect(listed.map((b) => b.name)).toEqual([name]);
    const all = await cli(root, ['verify', '--all', '--s3-bucket', bucket, '--s3-prefix', 'p/', '--json']);
    expect(all.code, all.stderr + all.stdout).toBe(0);
    expect(parseJsonResult(all).results.map((r: any) => r.location)).toEqual([`s3://${bucket}/p/${name}`]);
  });

  it('prune removes the sidecars of this job left without their archive (an interrupted prune)', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const template = 'job-{date}-{time}';
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) keys.push((await backupToS3(root, bucket, { name: template })).key);
    // The oldest one's archive is gone, its sidecars are left.
    await deleteObject(bucket, keys[0]!);
    const run = await cli(root, ['prune', '--s3-bucket', bucket, '--s3-prefix', 'p/', '-s', 'data', '-n', template, '--keep-last', '1', '--json']);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const out = parseJsonResult(run);
    expect([...out.locations[0].orphansRemoved].sort()).toEqual([`${keys[0]}.manifest.json`, `${keys[0]}.sha256`].map((k) => k.slice(2)).sort());
    expect(await listKeys(bucket)).toEqual([keys[2]!, `${keys[2]}.manifest.json`, `${keys[2]}.sha256`]);
  });

  it('restore from S3 (zip): --include, existing files kept (exit 1) and replaced with --overwrite', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const bucket = await freshBucket();
    const { key } = await backupToS3(root, bucket, { format: 'zip' });
    const url = `s3://${bucket}/${key}`;

    const some = await cli(root, ['restore', url, '--to', 'some', '--include', 'data/deep', '*.sh', '--json']);
    expect(some.code, some.stderr + some.stdout).toBe(0);
    expect(parseJsonResult(some)).toMatchObject({ ok: true, checksum: 'match', files: 2 });
    const restored = await describeTree(path.join(root, 'some', 'data'));
    expect([...restored.entries()].filter(([, e]) => e.type === 'file').map(([p]) => p).sort()).toEqual(['bin/run.sh', 'deep/a/b/c/d/e/f/g/h/leaf.txt']);
    expect(restored.get('bin/run.sh')).toEqual((await describeTree(src)).get('bin/run.sh'));

    await fs.writeFile(path.join(root, 'some', 'data', 'bin', 'run.sh'), 'changed\n');
    const again = await cli(root, ['restore', url, '--to', 'some', '--include', 'data/bin/run.sh', '--json']);
    expect(again.code, again.stderr + again.stdout).toBe(1);
    expect(parseJsonResult(again)).toMatchObject({ ok: false, existing: ['data/bin/run.sh'], error: { code: 'RESTORE_INCOMPLETE' } });
    expect(await fs.readFile(path.join(root, 'some', 'data', 'bin', 'run.sh'), 'utf8')).toBe('changed\n');

    const overwrite = await cli(root, ['restore', url, '--to', 'some', '--include', 'data/bin/run.sh', '--overwrite', '--json']);
    expect(overwrite.code, overwrite.stderr + overwrite.stdout).toBe(0);
    expect(await describeTree(path.join(root, 'some', 'data', 'bin'))).toEqual(
      new Map([...(await describeTree(path.join(src, 'bin'))).entries()].filter(([p]) => p === 'run.sh')),
    );
  });

  it.each(FORMATS)('restore from S3 of a damaged %s: exit 1, the damage reported, no temporary file left in the target', async (format) => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const { key } = await backupToS3(root, bucket, { format });
    const damaged = await getObject(bucket, key);
    const middle = damaged.length >> 1;
    damaged[middle] = damaged[middle]! ^ 0x01; // inside binary.bin's data, in all three formats
    await putObject(bucket, key, damaged);
    const run = await cli(root, ['restore', `s3://${bucket}/${key}`, '--to', 'out', '--json']);
    expect(run.code, run.stderr + run.stdout).toBe(1);
    const out = parseJsonResult(run);
    expect(out.ok).toBe(false);
    // Every format stops at the damage (zip: the entry's CRC-32; tar: the decompressor's check).
    expect(out.error.code).toBe('ARCHIVE_DAMAGED');
    expect(out.error.message).toMatch(/CRC|damaged/);
    // restore.ts: "a failed restore leaves no half file" (a file is written as .restore-XXXXXXXXXXXX beside it first).
    const left = [...(await describeTree(path.join(root, 'out'))).keys()];
    expect(left.filter((p) => /\.restore-[0-9a-f]+$/.test(p)), 'temporary files left in the target').toEqual([]);
  });

  it('keys with spaces, "+" and non-ASCII (zip: ranged reads and an If-Match GET): list, verify, restore', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const bucket = await freshBucket();
    const { key, name } = await backupToS3(root, bucket, { format: 'zip', name: 'café nightly+1 ü', prefix: 'hôte 1/' });
    expect(name).toBe('café nightly+1 ü.zip');
    expect(await listKeys(bucket)).toEqual([key, `${key}.manifest.json`, `${key}.sha256`]);
    expect((await listBackups(root, bucket, 'hôte 1/')).map((b) => [b.name, b.managed])).toEqual([[name, true]]);
    const url = `s3://${bucket}/${key}`;
    const verify = await cli(root, ['verify', url, '--json']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect(await listKeys(bucket)).toContain(`${key}.verified.json`);
    const restore = await cli(root, ['restore', url, '--to', 'r', '--json']);
    expect(restore.code, restore.stderr + restore.stdout).toBe(0);
    expect(parseJsonResult(restore)).toMatchObject({ checksum: 'match' });
    expect(await describeTree(path.join(root, 'r', 'data'))).toEqual(await describeTree(src));
  });

  it('a prefix without a trailing slash ("host1-"): the s3:// URL that run reports restores and verifies', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const bucket = await freshBucket();
    const { key, name } = await backupToS3(root, bucket, { prefix: 'host1-' });
    expect(key).toBe('host1-nightly.tar.gz');
    const listed = await listBackups(root, bucket, 'host1-');
    expect(listed.map((b) => b.name)).toEqual([name]);
    const all = await cli(root, ['verify', '--all', '--s3-bucket', bucket, '--s3-prefix', 'host1-', '--json']);
    expect(all.code, all.stderr + all.stdout).toBe(0);
    const restore = await cli(root, ['restore', `s3://${bucket}/${key}`, '--to', 'r', '--json']);
    expect(restore.code, restore.stderr + restore.stdout).toBe(0);
    expect(parseJsonResult(restore)).toMatchObject({ ok: true, checksum: 'match' });
    expect(await describeTree(path.join(root, 'r', 'data'))).toEqual(await describeTree(src));
    // The URL `backup run` reports for it (s3://BUCKET/KEY) must verify like `verify --all` does.
    const one = await cli(root, ['verify', `s3://${bucket}/${key}`, '--json']);
    expect(one.code, one.stderr + one.stdout).toBe(0);
    expect(parseJsonResult(one).results[0].problems).toEqual([]);
  });
});
