/**
 * Facts about Debian's rclone (1.60) that the rclone destination relies on,
 * with remotes configured by environment variables only (RCLONE_CONFIG_<NAME>_*,
 * RCLONE_CONFIG=/dev/null: no config file is read or written, ~/.config/rclone
 * is never touched): an `sftp` remote on a throw-away sshd and a `local` one.
 * Streamed `rcat` to a temporary name, `moveto`, `lsjson`, `cat`, `deletefile`,
 * and the exit codes and messages of the failures the backend must map.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { randomSource, tempDir } from '../helpers/fixtures.js';

const MiB = 1024 * 1024;
/** Every rclone call is bounded: a hang fails the test with what rclone printed. */
const RCLONE_TIMEOUT_MS = 60_000;

let sshd: Sshd;
let home: string;
beforeAll(async () => {
  sshd = await startSshd();
  // A private HOME / cache: rclone must not read or write the user's own config or cache.
  home = await fs.mkdtemp(path.join(sshd.root, 'home-'));
});
afterAll(async () => {
  await sshd?.stop();
});

/** The environment rclone runs with: no RCLONE_* of the caller, no config file, the remotes given. */
function rcloneEnv(remotes: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('RCLONE_')) env[key] = value;
  return { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache'), RCLONE_CONFIG: '/dev/null', ...remotes };
}

interface RcloneResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs rclone with `args`; `stdin` (if given) is piped in with backpressure;
 * stdout is collected, or hashed when `hashStdout` (for large reads).
 */
async function rclone(env: NodeJS.ProcessEnv, args: string[], options: { stdin?: Readable; hashStdout?: boolean } = {}): Promise<RcloneResult & { sha256?: string }> {
  const child = spawn('rclone', args, { env, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), RCLONE_TIMEOUT_MS);
  const out: Buffer[] = [];
  const hash = createHash('sha256');
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const reading = pipeline(
    child.stdout!,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (options.hashStdout) hash.update(chunk);
        else out.push(chunk);
        cb();
      },
    }),
  );
  const writing = options.stdin ? pipeline(options.stdin, child.stdin!) : Promise.resolve();
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  await Promise.all([reading, writing]);
  if (code === null) throw new Error(`rclone ${args.join(' ')} killed after ${RCLONE_TIMEOUT_MS} ms\n${stderr}`);
  return { code, stdout: Buffer.concat(out), stderr, ...(options.hashStdout ? { sha256: hash.digest('hex') } : {}) };
}

interface LsEntry {
  Path: string;
  Name: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
}

interface Remote {
  name: string;
  env: () => Record<string, string>;
  /** The remote path of the test folder (absolute on the server). */
  folder: () => string;
}

const remotes: Remote[] = [
  {
    name: 'sftp',
    env: () => ({
      RCLONE_CONFIG_NAS_TYPE: 'sftp',
      RCLONE_CONFIG_NAS_HOST: sshd.host,
      RCLONE_CONFIG_NAS_PORT: String(sshd.port),
      RCLONE_CONFIG_NAS_USER: sshd.user,
      RCLONE_CONFIG_NAS_KEY_FILE: sshd.privateKeyPath,
      RCLONE_CONFIG_NAS_KNOWN_HOSTS_FILE: sshd.knownHostsPath,
    }),
    folder: () => `nas:${sshd.root}/sftp-dir`,
  },
  {
    name: 'local',
    env: () => ({ RCLONE_CONFIG_DISK_TYPE: 'local' }),
    folder: () => `disk:${sshd.root}/local-dir`,
  },
];

describe.each(remotes)('rclone with a $name remote from the environment', (remote) => {
  it('rcat 24 MiB from stdin to NAME.partial, moveto NAME, lsjson, cat back, deletefile', async () => {
    const env = rcloneEnv(remote.env());
    const folder = remote.folder();
    const name = 'host1-2026-12-01T070000Z.tar.gz';

    // rcat streams stdin to the remote (creating the missing folders on the way).
    const source = randomSource(24 * MiB);
    const put = await rclone(env, ['rcat', `${folder}/${name}.partial`], { stdin: source.stream });
    expect(put, put.stderr).toMatchObject({ code: 0 });
    const written = source.digest();

    const moved = await rclone(env, ['moveto', `${folder}/${name}.partial`, `${folder}/${name}`]);
    expect(moved, moved.stderr).toMatchObject({ code: 0 });

    const listed = await rclone(env, ['lsjson', folder]);
    expect(listed, listed.stderr).toMatchObject({ code: 0 });
    const entries = JSON.parse(listed.stdout.toString('utf8')) as LsEntry[];
    expect(entries.map((e) => [e.Name, e.Size, e.IsDir])).toEqual([[name, 24 * MiB, false]]);
    expect(Number.isNaN(Date.parse(entries[0]!.ModTime))).toBe(false);
    // lsjson --stat on one file: a single object (not an array).
    const stat = await rclone(env, ['lsjson', '--stat', `${folder}/${name}`]);
    expect(JSON.parse(stat.stdout.toString('utf8'))).toMatchObject({ Name: name, Size: 24 * MiB, IsDir: false });

    const read = await rclone(env, ['cat', `${folder}/${name}`], { hashStdout: true });
    expect(read, read.stderr).toMatchObject({ code: 0 });
    expect(read.sha256).toBe(written);

    // moveto over an existing name replaces it (exit 0); --ignore-existing skips silently (also exit 0,
    // the source left behind): rclone has no "fail if the target exists".
    const again = await rclone(env, ['rcat', `${folder}/${name}.partial`], { stdin: Readable.from([Buffer.from('newer')]) });
    expect(again.code).toBe(0);
    const skipped = await rclone(env, ['moveto', '--ignore-existing', `${folder}/${name}.partial`, `${folder}/${name}`]);
    expect(skipped.code).toBe(0);
    const both = JSON.parse((await rclone(env, ['lsjson', folder])).stdout.toString('utf8')) as LsEntry[];
    expect(both.map((e) => [e.Name, e.Size]).sort()).toEqual([[name, 24 * MiB], [`${name}.partial`, 5]]);
    const replaced = await rclone(env, ['moveto', `${folder}/${name}.partial`, `${folder}/${name}`]);
    expect(replaced.code).toBe(0);
    expect((await rclone(env, ['cat', `${folder}/${name}`])).stdout.toString()).toBe('newer');

    const deleted = await rclone(env, ['deletefile', `${folder}/${name}`]);
    expect(deleted, deleted.stderr).toMatchObject({ code: 0 });
    const empty = await rclone(env, ['lsjson', folder]);
    expect(JSON.parse(empty.stdout.toString('utf8'))).toEqual([]);
  });

  it('the exit codes and messages of missing things', async () => {
    const env = rcloneEnv(remote.env());
    const folder = remote.folder();
    // A folder that does not exist: lsjson exits 3 ("directory not found"), and its stdout is an
    // unfinished "[" (never parse stdout of a failed lsjson).
    const noDir = await rclone(env, ['lsjson', '--retries', '1', `${folder}/no-such-folder`]);
    expect(noDir.code).toBe(3);
    expect(noDir.stderr).toMatch(/directory not found/);
    // A missing file in an existing folder: cat and lsjson --stat also exit 3 "directory not found"
    // (rclone 1.60 looks for a folder of that name): nothing on stdout.
    await rclone(env, ['rcat', `${folder}/present`], { stdin: Readable.from([Buffer.from('x')]) });
    const catMissing = await rclone(env, ['cat', '--retries', '1', `${folder}/missing.tar.gz`]);
    expect([catMissing.code, catMissing.stdout.length]).toEqual([3, 0]);
    expect(catMissing.stderr).toMatch(/Failed to cat with 2 errors: last error was: directory not found/);
    const statMissing = await rclone(env, ['lsjson', '--stat', '--retries', '1', `${folder}/missing.tar.gz`]);
    expect([statMissing.code, statMissing.stdout.length]).toEqual([3, 0]);
    expect(statMissing.stderr).toMatch(/Failed to lsjson: directory not found/);
    // deletefile of a missing file: exit 1, "is a directory or doesn't exist" (retried 3 times by
    // default: pass --retries 1).
    const delMissing = await rclone(env, ['deletefile', '--retries', '1', `${folder}/missing.tar.gz`]);
    expect(delMissing.code).toBe(1);
    expect(delMissing.stderr).toMatch(/is a directory or doesn't exist/);
  });
});

describe('rclone failures the backend maps to errors', () => {
  it('a remote name that is not configured: exit 1, "didn\'t find section in config file"', async () => {
    const env = rcloneEnv({});
    const result = await rclone(env, ['lsjson', 'nope:backups']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Failed to create file system for "nope:backups": didn't find section in config file/);
    const rcat = await rclone(env, ['rcat', 'nope:backups/a.partial'], { stdin: Readable.from([Buffer.from('x')]) });
    expect(rcat.code).toBe(1);
    expect(rcat.stderr).toMatch(/didn't find section in config file/);
  });

  it('an unknown backend type: exit 1, "didn\'t find backend called"', async () => {
    const result = await rclone(rcloneEnv({ RCLONE_CONFIG_ODD_TYPE: 'nosuchbackend' }), ['lsjson', 'odd:']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/didn't find backend called "nosuchbackend"/);
  });

  it('an sftp host whose key is not the known_hosts one, or missing from it: refused, exit 1', async () => {
    const dir = await tempDir();
    const other = path.join(dir, 'known_hosts');
    // Another host's key under this host's name.
    const line = await fs.readFile(sshd.knownHostsPath, 'utf8');
    const [hostField, type] = line.trim().split(/\s+/);
    const fake = Buffer.from((await fs.readFile(`${sshd.privateKeyPath}.pub`, 'utf8')).split(' ')[1]!, 'base64');
    await fs.writeFile(other, `${hostField} ${type} ${fake.toString('base64')}\n`);
    const env = rcloneEnv({
      RCLONE_CONFIG_NAS_TYPE: 'sftp',
      RCLONE_CONFIG_NAS_HOST: sshd.host,
      RCLONE_CONFIG_NAS_PORT: String(sshd.port),
      RCLONE_CONFIG_NAS_USER: sshd.user,
      RCLONE_CONFIG_NAS_KEY_FILE: sshd.privateKeyPath,
      RCLONE_CONFIG_NAS_KNOWN_HOSTS_FILE: other,
    });
    const result = await rclone(env, ['lsjson', '--low-level-retries', '1', '--retries', '1', `nas:${sshd.root}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Failed to create file system for "nas:${sshd.root}": NewFs: couldn't connect SSH: ssh: handshake failed: knownhosts: key mismatch`);
    // A host missing from the file: "knownhosts: key is unknown".
    await fs.writeFile(other, '');
    const unknown = await rclone(env, ['lsjson', '--low-level-retries', '1', '--retries', '1', `nas:${sshd.root}`]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/ssh: handshake failed: knownhosts: key is unknown/);
  });

  it('rclone not on PATH: spawn fails with ENOENT', async () => {
    const env = { ...rcloneEnv({}), PATH: await tempDir() };
    const child = spawn('rclone', ['version'], { env, stdio: 'ignore' });
    await expect(new Promise((resolve, reject) => child.once('error', reject).once('close', resolve))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'spawn rclone' });
  });
});
