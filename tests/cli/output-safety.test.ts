/**
 * Names from the file system and from archives reach stdout, stderr and the
 * log escaped: a newline in a name cannot forge a log line or an output
 * line, an escape sequence cannot clear the screen. Real subprocesses, real
 * files with hostile names, a tar written by Python.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { itAsRoot } from '../helpers/root.js';

const NOBODY = 65534;
const FORGED = '\n2026-12-01T00:00:00.000Z ERROR forged';
const CLEAR = '\x1b[2J\x1b[H';
const FAKE_OK = '\nAll files restored OK';
const C1_CSI = '\u009b2J';

/** No raw ESC / C1 CSI / carriage return, and no line that starts like a forged entry or message. */
function expectClean(text: string, what: string): void {
  expect(text, what).not.toMatch(/[\x1b\u009b\r]/);
  for (const line of text.split('\n')) {
    expect(line, `${what}: ${JSON.stringify(line)}`).not.toMatch(/^(2026-12-01T00:00:00\.000Z ERROR forged|All files restored OK)/);
  }
}

/** Every log line is an entry (timestamp, [command pid], level) or an indented continuation. */
function expectLogEntries(log: string): void {
  for (const line of log.split('\n').filter(Boolean)) {
    expect(line).toMatch(/^(\d{4}-\d\d-\d\dT[\d:.]+Z \[\w+ \d+\] (DEBUG|INFO |WARN |ERROR) |    \| )/);
  }
  expectClean(log, 'log');
}

function expectAllClean(run: CliRun, log: string): void {
  expectClean(run.stdout, 'stdout');
  expectClean(run.stderr, 'stderr');
  expectLogEntries(log);
}

describe('hostile names in what the tool prints and logs', () => {
  itAsRoot('backup run: unreadable files with newline / escape names are escaped in stdout, stderr and the log', async () => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    const names = [`a${FORGED}`, `b${CLEAR}`, `c${FAKE_OK}`, `d${C1_CSI}`, 'trailing space '];
    for (const name of names) {
      await fs.writeFile(path.join(src, name), 'x');
      await fs.chmod(path.join(src, name), 0o000);
    }
    await fs.writeFile(path.join(src, 'ok.txt'), 'fine');
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);

    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.gz', '-n', 'x'], { cwd: root, asUser: NOBODY });
    expect(run.code, run.stderr).toBe(3);
    const log = await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8');
    expectAllClean(run, log);
    // The names are still recognisable: escaped, and a trailing space shown in quotes.
    expect(run.stdout).toContain('a\\x0a2026-12-01T00:00:00.000Z ERROR forged');
    expect(run.stdout).toContain('b\\x1b[2J\\x1b[H');
    expect(run.stdout).toContain(`'${path.join(src, 'trailing space ')}'`);
    expect(log).toMatch(/WARN  skipped .*a\\x0a2026-12-01T00:00:00\.000Z ERROR forged/);

    // A name inside an error message stays on the message's line (stderr, log, --json).
    for (const extra of [[], ['--json']]) {
      const missing = await runCli(['run', '-s', `missing${FORGED}${CLEAR}`, '-d', 'out', ...extra], { cwd: root });
      expect(missing.code).toBe(2);
      expectAllClean(missing, await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8'));
      if (extra.length === 0) expect(missing.stderr).toContain('missing\\x0a2026-12-01T00:00:00.000Z ERROR forged\\x1b[2J');
      // JSON carries the name as it is, escaped by JSON itself.
      else expect(JSON.parse(missing.stdout).error.message).toContain(`missing${FORGED}${CLEAR}`);
    }

    // The dry run lists every entry on stdout.
    const dry = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'y', '--dry-run'], { cwd: root });
    expect(dry.code, dry.stderr).toBe(0);
    expectAllClean(dry, await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8'));
    expect(dry.stdout).toContain('data/c\\x0aAll files restored OK');
  });

  it('backup list and restore: archive and entry names with escapes are escaped', async () => {
    const root = await tempDir();
    const backups = path.join(root, 'backups');
    await fs.mkdir(backups);
    const archive = path.join(backups, `evil${CLEAR}${FAKE_OK}.tar.gz`);
    // Python's tarfile writes what our writer never would: names with controls, a device entry.
    execFileSync('python3', [
      '-c',
      `
import io, sys, tarfile
names = sys.argv[2:]
with tarfile.open(sys.argv[1], 'w:gz') as t:
    for n in names:
        info = tarfile.TarInfo(n)
        data = b'payload'
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    dev = tarfile.TarInfo('dev' + names[0])
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    t.addfile(dev)
`,
      archive,
      `f${CLEAR}${FAKE_OK}`,
      `g${FORGED}`,
    ]);

    const list = await runCli(['list', '--dest', 'backups'], { cwd: root });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('evil\\x1b[2J\\x1b[H\\x0aAll files restored OK.tar.gz');
    expectAllClean(list, await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8'));

    // Twice: the second restore lists the names it kept.
    for (let i = 0; i < 2; i += 1) {
      const restore = await runCli(['restore', archive, '--to', 'restored'], { cwd: root });
      expect(restore.code).not.toBeNull();
      expectAllClean(restore, await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8'));
      if (i === 1) expect(restore.stdout).toContain('g\\x0a2026-12-01T00:00:00.000Z ERROR forged');
    }
    // Log lines name the command and its pid.
    expect(await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8')).toMatch(/^\S+ \[restore \d+\] INFO  restore: /m);
    const verify = await runCli(['verify', archive], { cwd: root });
    expectAllClean(verify, await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8'));
  });
});

describe('secrets in every output channel', () => {
  const ENV_SECRET = 'wJalrXUtnFEMIK7MDENGbPxRfiCY';
  const secrets = ['P@ss', 'ss@127', 'TOKENabc123', ENV_SECRET];

  async function allText(root: string, run: CliRun): Promise<string> {
    let text = run.stdout + run.stderr;
    text += await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8').catch(() => '');
    // Whatever was persisted beside the backups (manifests name failed destinations).
    for (const file of await fs.readdir(path.join(root, 'out')).catch(() => [])) text += await fs.readFile(path.join(root, 'out', file), 'latin1');
    return text;
  }

  it.each([
    ['user:password with @', 'http://u:P@ss@127.0.0.1:9/'],
    ['token only', 'http://TOKENabc123@127.0.0.1:9/'],
  ])('endpoint with %s: not in stdout (human, --json), stderr (--verbose stacks), the log or the manifest', async (_what, endpoint) => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    await fs.writeFile(path.join(root, 'data/f.txt'), 'x');
    const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: ENV_SECRET, AWS_REGION: 'us-east-1', AWS_MAX_ATTEMPTS: '1' };
    for (const extra of [['--verbose'], ['--json'], ['--json', '--verbose']]) {
      const run = await runCli(['run', '-s', 'data', '-d', 'out', '--s3-bucket', 'b', '--s3-endpoint', endpoint, ...extra], { cwd: root, env });
      expect(run.code, run.stderr).toBe(1);
      const text = await allText(root, run);
      for (const secret of secrets) expect(text, `${extra.join(' ')}: ${secret}`).not.toContain(secret);
      expect(text).toContain('[redacted]@127.0.0.1');
      // A failed S3 destination no longer fails the run as a whole (the local copy is made), so
      // `run` prints no stack here; list / verify below still do, and are checked with --verbose.
    }
    // list / verify go through the command frame.
    for (const args of [['list'], ['verify', '--all', '--verbose'], ['list', '--json', '--verbose']]) {
      const run = await runCli([...args, '--s3-bucket', 'b', '--s3-endpoint', endpoint], { cwd: root, env });
      expect(run.code, run.stderr).toBe(1);
      const text = await allText(root, run);
      for (const secret of secrets) expect(text, `${args.join(' ')}: ${secret}`).not.toContain(secret);
      if (args[0] === 'verify') expect(run.stderr).toMatch(/\n\s+at /);
    }
  });

  it('the value of AWS_SECRET_ACCESS_KEY is redacted wherever it would be printed or logged', async () => {
    const root = await tempDir();
    const env = { AWS_SECRET_ACCESS_KEY: ENV_SECRET };
    for (const extra of [[], ['--json'], ['--verbose']]) {
      const run = await runCli(['run', '-s', `missing-${ENV_SECRET}`, '-d', 'out', ...extra], { cwd: root, env });
      expect(run.code).toBe(2);
      const text = await allText(root, run);
      expect(text).not.toContain(ENV_SECRET);
      expect(text).toContain('missing-[redacted]');
    }
  });
});
