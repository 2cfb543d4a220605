/**
 * Inputs from outside, through the built CLI as cron would run it: paths
 * given on the command line and in settings.json, the settings file itself,
 * S3 settings and --threads. A bad input is a usage or configuration error
 * (exit 2) that names the flag or the setting, and nothing is written.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { PROJECT_ROOT, parseJsonResult, runCli } from '../helpers/cli.js';
import { MAX_THREADS } from '../../src/config/schema.js';
import { lockFileFor } from '../../src/lifecycle/job-lock-file.js';
import { DEFAULT_NAME_TEMPLATE } from '../../src/archive/naming.js';
import { checkS3Region } from '../../src/cli/stores.js';
import { itAsRoot } from '../helpers/root.js';

/** A working folder with a source, a secret in .env, and nothing else. */
async function workdir(): Promise<string> {
  const dir = await tempDir();
  await fs.mkdir(path.join(dir, 'data'));
  await fs.writeFile(path.join(dir, 'data/f.txt'), 'x');
  await fs.writeFile(path.join(dir, '.env'), 'SECRET_TOKEN=do-not-back-me-up\n');
  return dir;
}

describe('an empty or blank path is a usage error everywhere a path is taken', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['run --source ""', ['run', '-s', ''], /--source: the path is empty/],
    ['run --source " "', ['run', '-s', ' '], /--source: the path is only spaces/],
    ['run --source data ""', ['run', '-s', 'data', ''], /--source: the path is empty/],
    ['run --dest ""', ['run', '-s', 'data', '-d', ''], /--dest: the path is empty/],
    ['run --dest "  "', ['run', '-s', 'data', '--dest', '  '], /--dest: the path is only spaces/],
    ['run --config ""', ['run', '-s', 'data', '-c', ''], /--config: the path is empty/],
    ['run --log-file ""', ['run', '-s', 'data', '--log-file', ''], /--log-file: the path is empty/],
    ['list --dest ""', ['list', '-d', ''], /--dest: the path is empty/],
    ['list --config " "', ['list', '--config', ' '], /--config: the path is only spaces/],
    ['list --log-file ""', ['list', '--log-file', ''], /--log-file: the path is empty/],
    ['verify ""', ['verify', ''], /archive argument: the path is empty/],
    ['verify --all --dest ""', ['verify', '--all', '--dest', ''], /--dest: the path is empty/],
    ['restore "" --to out', ['restore', '', '--to', 'out'], /archive argument: the path is empty/],
    ['restore x --to ""', ['restore', 'x.tar.gz', '--to', ''], /--to: the path is empty/],
    ['restore x --to " "', ['restore', 'x.tar.gz', '--to', ' '], /--to: the path is only spaces/],
    ['prune --source ""', ['prune', '-s', '', '--keep-last', '1'], /--source: the path is empty/],
    ['prune --dest ""', ['prune', '-s', 'data', '-d', '', '--keep-last', '1'], /--dest: the path is empty/],
  ];
  it.each(cases)('%s -> exit 2 naming the flag, nothing written', async (_label, args, message) => {
    const dir = await workdir();
    const run = await runCli(args, { cwd: dir });
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(await listDir(dir)).toEqual(['.env', 'data']);
  });

  it('--json: one JSON result with a USAGE error', async () => {
    const dir = await workdir();
    const run = await runCli(['run', '-s', '', '--json'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(parseJsonResult(run)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'USAGE', message: expect.stringMatching(/--source: the path is empty/) } });
  });

  it.each([
    ['sources', { sources: [''] }, /sources\[0\]: the path is empty/],
    ['sources', { sources: ['data', '   '] }, /sources\[1\]: the path is only spaces/],
    ['destination', { sources: ['data'], destination: '' }, /destination: the path is empty/],
    ['logFile', { sources: ['data'], logFile: ' ' }, /logFile: the path is only spaces/],
  ])('settings.json %s blank -> exit 2 naming the setting', async (_key, settings, message) => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, 'settings.json'), JSON.stringify(settings));
    const run = await runCli(['run', '-c', 'settings.json'], { cwd: dir });
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(await listDir(path.join(dir))).not.toContain('backups');
  });

  it('a source whose name ends in a space is kept as written, not trimmed', async () => {
    const dir = await workdir();
    await fs.mkdir(path.join(dir, 'data '));
    await fs.writeFile(path.join(dir, 'data /only-here.txt'), 'y');
    const run = await runCli(['run', '-s', 'data ', '-d', 'out', '-f', 'zip', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const result = parseJsonResult(run);
    expect(result.files).toBe(1);
  });
});

describe('the settings file: a regular file of at most 1 MiB, whose content never appears in an error', () => {
  it('a FIFO as --config: exit 2 at once, "not a regular file" (it used to wait forever for a writer)', async () => {
    const dir = await workdir();
    execFileSync('mkfifo', [path.join(dir, 'settings.fifo')]);
    const run = await runCli(['run', '-c', 'settings.fifo', '--json'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(parseJsonResult(run).error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/not a regular file \(it is a FIFO/) });
  });

  it('a FIFO as config/settings.json (found without --config): exit 2 too', async () => {
    const dir = await workdir();
    await fs.mkdir(path.join(dir, 'config'));
    execFileSync('mkfifo', [path.join(dir, 'config/settings.json')]);
    const run = await runCli(['list'], { cwd: dir });
    expect(run.stderr).toMatch(/settings\.json: not a regular file/);
    expect(run.code).toBe(2);
  });

  it('/dev/zero as --config: exit 2, not read', async () => {
    const dir = await workdir();
    const run = await runCli(['run', '-c', '/dev/zero'], { cwd: dir });
    expect(run.stderr).toMatch(/\/dev\/zero: not a regular file \(it is a character device\)/);
    expect(run.code).toBe(2);
  });

  it('a settings file over 1 MiB: exit 2, says the limit', async () => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, 'big.json'), `{"sources": ["data"], "name": "${'x'.repeat(2 * 1024 * 1024)}"}`);
    const run = await runCli(['run', '-c', 'big.json'], { cwd: dir });
    expect(run.stderr).toMatch(/a settings file is at most 1 MiB/);
    expect(run.code).toBe(2);
  });

  it.each([
    ['not JSON at all', 'SECRET-xyz-0123456789\n', /not valid JSON at line 1, column 1: a character where a value was expected/],
    ['a key file', '-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-xyz\n', /not valid JSON at line 1, column 1: an invalid number/],
    ['JSON that breaks inside a secret', '{"token": "SECRET-xyz\n"}', /not valid JSON at line 1, column 22: a line break or control character inside a string/],
    ['single quotes', "{'SECRET-xyz': 1}", /not valid JSON at line 1, column 2: strings take double quotes/],
  ])('a settings file that is a symlink to %s: the error gives line and column, never the content', async (_what, content, message) => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, 'secret.txt'), content, { mode: 0o600 });
    await fs.symlink(path.join(dir, 'secret.txt'), path.join(dir, 'settings.json'));
    for (const json of [false, true]) {
      const run = await runCli(['run', '-c', 'settings.json', ...(json ? ['--json'] : [])], { cwd: dir });
      expect(run.code).toBe(2);
      expect(json ? parseJsonResult(run).error.message : run.stderr).toMatch(message);
      expect(run.stdout + run.stderr).not.toContain('SECRET');
      expect(run.stdout + run.stderr).not.toContain('BEGIN');
    }
    expect(await fs.readFile(path.join(dir, 'logs/backup.log'), 'utf8')).not.toContain('SECRET');
  });

  it('the usual JSON mistakes are named where they are', async () => {
    const dir = await workdir();
    const cases: Array<[string, RegExp]> = [
      ['{ "sources": ["data"], }', /line 1, column 24: a comma before "}"/],
      ['{\n  "sources": ["data"]\n  "format": "zip"\n}', /line 3, column 3: a string where "," or "}" after a value was expected \(is a comma missing\?\)/],
      ['{ "sources": ["data"]', /at the end of the file \(line 1\): the file ends where "," or "}"/],
      ['{ "sources": ["data"] // home\n}', /line 1, column 23: comments are not allowed in JSON/],
    ];
    for (const [text, message] of cases) {
      await fs.writeFile(path.join(dir, 'settings.json'), text);
      const run = await runCli(['run', '-c', 'settings.json'], { cwd: dir });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });
});

describe('the lock file', () => {
  it('a FIFO at the job lock path: backup run ends at once with exit 1 naming it (it used to hang, deaf to SIGTERM)', async () => {
    const dir = await workdir();
    await fs.mkdir(path.join(dir, 'backups'));
    const lock = lockFileFor({ sources: [path.join(dir, 'data')], nameTemplate: DEFAULT_NAME_TEMPLATE }, path.join(dir, 'backups'), path.join(dir, 'logs'));
    execFileSync('mkfifo', [lock]);
    const run = await runCli(['run', '-s', 'data', '-d', 'backups', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(parseJsonResult(run).error).toMatchObject({ code: 'LOCK_FAILED', message: expect.stringContaining(`${lock} is a FIFO (named pipe), which this tool never creates`) });
    expect(await listDir(path.join(dir, 'backups'))).toEqual([path.basename(lock)]);
  });
});

describe('S3 settings errors', () => {
  /** No region, no endpoint, no profile: AWS as a new user has it. Fake keys, so no credential lookup leaves the machine. */
  const awsEnv = (dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    HOME: dir,
    AWS_REGION: undefined,
    AWS_DEFAULT_REGION: undefined,
    AWS_PROFILE: undefined,
    AWS_ENDPOINT_URL: undefined,
    AWS_ENDPOINT_URL_S3: undefined,
    AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
    ...extra,
  });

  it.each([
    ['run', ['run', '-s', 'data', '-d', 'out', '--s3-bucket', 'valid-bucket', '--json']],
    ['list', ['list', '--s3-bucket', 'valid-bucket', '--json']],
    ['verify', ['verify', 's3://valid-bucket/data-20261126-020000.zip', '--json']],
  ])('no region for AWS (%s): exit 2, S3_NO_REGION, says the three ways to set one, nothing written', async (_command, args) => {
    const dir = await workdir();
    const run = await runCli(args, { cwd: dir, env: awsEnv(dir) });
    expect(run.code).toBe(2);
    const error = parseJsonResult(run).error;
    expect(error.code).toBe('S3_NO_REGION');
    for (const way of ['s3.region', '--s3-region', 'AWS_REGION']) expect(error.message).toContain(way);
    expect(await listDir(dir)).not.toContain('out');
  });

  it('a region from the AWS profile is enough (checked in-process: no request is made)', async () => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, 'aws-config'), '[default]\nregion = eu-west-1\n');
    const saved = { ...process.env };
    try {
      for (const key of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[key];
      process.env.AWS_CONFIG_FILE = path.join(dir, 'aws-config');
      process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'none');
      await expect(checkS3Region({ bucket: 'valid-bucket', prefix: '' })).resolves.toBeUndefined();
      process.env.AWS_CONFIG_FILE = path.join(dir, 'none');
      await expect(checkS3Region({ bucket: 'valid-bucket', prefix: '' })).rejects.toMatchObject({ code: 'S3_NO_REGION', exitCode: 2 });
    } finally {
      process.env = saved;
    }
  });

  it.each([
    ['My_Bucket!', /a bucket name has only letters, digits, dots, hyphens/],
    ['My_Bucket', /bucket name "My_Bucket": an S3 bucket name has only lowercase letters, digits, dots and hyphens/],
    ['ab', /bucket name "ab": has 2 characters; an S3 bucket name has 3 to 63/],
    ['-bucket', /begins and ends with a letter or a digit/],
    ['my..bucket', /no two dots in a row/],
    ['192.168.5.4', /not an IP address/],
  ])('bucket %s for AWS: exit 2 naming the rule, from the flag, settings.json and an s3:// URL', async (bucket, rule) => {
    const dir = await workdir();
    const env = awsEnv(dir, { AWS_REGION: 'us-east-1' });
    const flag = await runCli(['run', '-s', 'data', '-d', 'out', '--s3-bucket', bucket], { cwd: dir, env });
    expect(flag.stderr).toMatch(/--s3-bucket/);
    expect(flag.stderr).toMatch(rule);
    expect(flag.stderr).not.toMatch(/host name not found/);
    expect(flag.code).toBe(2);
    const list = await runCli(['list', '--s3-bucket', bucket], { cwd: dir, env });
    expect(list.stderr).toMatch(rule);
    expect(list.code).toBe(2);
    await fs.writeFile(path.join(dir, 'settings.json'), JSON.stringify({ sources: ['data'], destination: 'out', s3: { bucket } }));
    const file = await runCli(['run', '-c', 'settings.json', '--json'], { cwd: dir, env });
    expect(file.code).toBe(2);
    expect(parseJsonResult(file).error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/settings\.json: s3\.bucket: /) });
    expect(parseJsonResult(file).error.message).toMatch(rule);
    const url = await runCli(['verify', `s3://${bucket}/x.zip`], { cwd: dir, env });
    expect(url.stderr).toMatch(rule);
    expect(url.code).toBe(2);
    expect(await listDir(dir)).not.toContain('out');
  });

  it.each([
    ['list --s3-endpoint', ['list', '--s3-bucket', 'valid-bucket', '--s3-endpoint', 'notaurl'], {}, '--s3-endpoint "notaurl": expected an http:// or https:// URL'],
    ['verify, AWS_ENDPOINT_URL_S3', ['verify', 's3://valid-bucket/x.zip'], { AWS_ENDPOINT_URL_S3: 'ftp://host' }, 'AWS_ENDPOINT_URL_S3 "ftp://host": expected an http:// or https:// URL'],
    ['list --s3-region', ['list', '--s3-bucket', 'valid-bucket', '--s3-region', 'us east'], {}, '--s3-region "us east": a region is letters, digits and hyphens'],
    ['run, AWS_REGION', ['run', '-s', 'data', '-d', 'out', '--s3-bucket', 'valid-bucket'], { AWS_REGION: 'eu/west' }, 'AWS_REGION "eu/west": a region is letters, digits and hyphens'],
    ['prune --s3-region', ['prune', '-s', 'data', '--keep-last', '1', '--s3-bucket', 'valid-bucket', '--s3-region', 'x.y'], {}, '--s3-region "x.y": a region'],
  ])('an endpoint or region no store accepts (%s): exit 2 naming where it came from, before any request', async (_label, args, extra, message) => {
    const dir = await workdir();
    const run = await runCli(args, { cwd: dir, env: awsEnv(dir, { AWS_REGION: 'us-east-1', ...extra }) });
    expect(run.stderr).toContain(message);
    expect(run.code).toBe(2);
    expect(await listDir(dir)).not.toContain('out');
  });

  it('"s3.region" in settings.json that no store accepts: exit 2', async () => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, 'settings.json'), JSON.stringify({ sources: ['data'], s3: { bucket: 'valid-bucket', region: 'us east 1' } }));
    const run = await runCli(['run', '-c', 'settings.json'], { cwd: dir, env: awsEnv(dir) });
    expect(run.stderr).toContain('s3.region: a region is letters, digits and hyphens');
    expect(run.code).toBe(2);
  });

  it('a name AWS refuses, with a custom endpoint: a warning, and the store decides', async () => {
    const dir = await workdir();
    // A closed port: nothing answers, so the run fails for the connection (exit 1), not the name.
    const env = awsEnv(dir, { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--s3-bucket', 'Team_Backups'], { cwd: dir, env });
    expect(run.stderr).toContain('bucket name "Team_Backups": an S3 bucket name has only lowercase letters');
    expect(run.stderr).toContain('http://127.0.0.1:9 may accept it, but AWS S3 would not');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/connection refused/);
  });

  it('no credentials at all (list): exit 1, names the ways to provide them, no stack trace', async () => {
    const dir = await workdir();
    const env = awsEnv(dir, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    const run = await runCli(['list', '--s3-bucket', 'valid-bucket'], { cwd: dir, env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('No AWS credentials found');
    for (const way of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', '.env', 'AWS_PROFILE', 'aws configure']) expect(run.stderr).toContain(way);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('--threads and "threads": a whole number from 1 to 256, as documented', () => {
  it.each(['0', '257', '999', '1.5', 'four', '-2', ''])('--threads %j: exit 2 naming the range, nothing written', async (value) => {
    const dir = await workdir();
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--threads', value], { cwd: dir });
    expect(run.stderr).toContain(`--threads ${JSON.stringify(value)}: expected a whole number from 1 to 256`);
    expect(run.code).toBe(2);
    expect(await listDir(dir)).not.toContain('out');
  });

  it.each([0, 257, 999, 2.5])('"threads": %d in settings.json: exit 2', async (threads) => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, 'settings.json'), JSON.stringify({ sources: ['data'], destination: 'out', threads }));
    const run = await runCli(['run', '-c', 'settings.json'], { cwd: dir });
    expect(run.stderr).toMatch(/threads: expected a whole number/);
    expect(run.code).toBe(2);
  });

  it('256 is accepted', async () => {
    const dir = await workdir();
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--threads', '256', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
  });

  it('the README documents the same range as the schema', async () => {
    const readme = await fs.readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`a whole number from 1 to ${MAX_THREADS}`);
    expect(readme).toContain(`| \`threads\` | whole number, 1 to ${MAX_THREADS} |`);
  });
});

describe('list and prune on a destination that is missing or read-only: plain words', () => {
  it('a missing folder: exit 2, "does not exist", for list and prune', async () => {
    const dir = await workdir();
    for (const args of [['list', '-d', 'nowhere'], ['prune', '-d', 'nowhere', '-s', 'data', '--keep-last', '1']]) {
      const run = await runCli(args, { cwd: dir });
      expect(run.stderr).toContain(`The backup folder ${path.join(dir, 'nowhere')} does not exist.`);
      expect(run.code).toBe(2);
    }
  });

  itAsRoot('a folder this user may read but not write: list works, prune says it is read-only (not a bare EACCES)', async () => {
    const dir = await workdir();
    await fs.chmod(dir, 0o777); // the log folder may be created by nobody
    await fs.mkdir(path.join(dir, 'backups'), { mode: 0o755 }); // root's
    const made = await runCli(['run', '-s', 'data', '-d', 'backups', '-f', 'zip'], { cwd: dir });
    expect(made.code).toBe(0);
    for (const name of await fs.readdir(path.join(dir, 'backups'))) await fs.chmod(path.join(dir, 'backups', name), 0o644); // readable, the folder still root's
    const list = await runCli(['list', '-d', 'backups'], { cwd: dir, asUser: 65534 });
    expect(list.stdout).toContain('1 backup(s) in');
    expect(list.code).toBe(0);
    const prune = await runCli(['prune', '-d', 'backups', '-s', 'data', '--keep-last', '1'], { cwd: dir, asUser: 65534 });
    expect(prune.stderr).toContain(`The folder ${path.join(dir, 'backups')} is read-only for this user, so nothing can be written or deleted there`);
    expect(prune.code).toBe(1);
  });
});

describe('./.env', () => {
  it('a FIFO named .env: every command still runs, with a warning (it used to hang before parsing the command line)', async () => {
    const dir = await workdir();
    await fs.rm(path.join(dir, '.env'));
    execFileSync('mkfifo', [path.join(dir, '.env')]);
    const run = await runCli(['list', '-d', '.'], { cwd: dir });
    expect(run.stderr).toContain(`warning: ${path.join(dir, '.env')} is not a regular file`);
    expect(run.code).toBe(0);
  });

  it('a regular .env is read, and the real environment wins over it', async () => {
    const dir = await workdir();
    await fs.writeFile(path.join(dir, '.env'), 'AWS_REGION=from dotenv\n');
    const env = { HOME: dir, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_ENDPOINT_URL_S3: undefined, AWS_ENDPOINT_URL: undefined };
    const fromFile = await runCli(['list', '--s3-bucket', 'valid-bucket'], { cwd: dir, env });
    expect(fromFile.stderr).toContain('AWS_REGION "from dotenv": a region is letters');
    expect(fromFile.code).toBe(2);
    const real = await runCli(['list', '--s3-bucket', 'valid-bucket', '--s3-endpoint', 'http://127.0.0.1:9'], {
      cwd: dir,
      env: { ...env, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    expect(real.stderr).not.toContain('from dotenv');
    expect(real.stderr).toMatch(/connection refused/);
    expect(real.code).toBe(1);
  });
});
