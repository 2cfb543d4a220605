/**
 * The built CLI (dist/bin.js, run `npm run build` first) in a real
 * pseudo-terminal, answered like a person: wait for each prompt to appear,
 * then type. The terminal is util-linux `script`, so no native module is
 * needed; inquirer sees a real TTY (raw mode, arrow keys, Ctrl-C as a key).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';

const STEP_TIMEOUT_MS = 20_000;

const KEY = { enter: '\r', down: '\x1b[B', up: '\x1b[A', ctrlC: '\x03', backspace: '\x7f' } as const;

/** CSI / OSC / two-character escape sequences, as inquirer and cli-progress write them. */
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()#][0-9A-Za-z]|[0-~])/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI, '').replace(/\r/g, '');
}

const sh = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/** One program in a pseudo-terminal: what it has drawn so far, and a keyboard. */
class PtySession {
  private raw = '';
  /** Index in the stripped screen after the last thing waited for. */
  private mark = 0;
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<() => void>();

  constructor(command: string, cwd: string) {
    // `script -e` returns the program's exit code; `-E never` keeps our keys out of the output.
    // A fixed, wide window so prompts are never wrapped.
    this.child = spawn('script', ['-q', '-e', '-E', 'never', '-c', `stty cols 200 rows 50 && exec ${command}`, '/dev/null'], {
      cwd,
      // The crontab is a script in the test's folder when a test makes one (never this machine's real crontab).
      env: { ...process.env, TERM: 'xterm-256color', NO_COLOR: '1', FORCE_COLOR: undefined, CI: undefined, BACKUP_CRONTAB: path.join(cwd, 'fake-crontab') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer): void => {
      this.raw += chunk.toString('utf8');
      for (const wake of this.waiters) wake();
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code, signal) => {
        for (const wake of this.waiters) wake();
        resolve({ code, signal });
      });
    });
  }

  get screen(): string {
    return stripAnsi(this.raw);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until `pattern` appears after the last match; fails with the screen so far. */
  async waitFor(pattern: string | RegExp, timeoutMs = STEP_TIMEOUT_MS): Promise<string> {
    const find = (): { index: number; text: string } | undefined => {
      const rest = this.screen.slice(this.mark);
      if (typeof pattern === 'string') {
        const index = rest.indexOf(pattern);
        return index < 0 ? undefined : { index, text: pattern };
      }
      const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
      return match ? { index: match.index, text: match[0] } : undefined;
    };
    const found = await new Promise<{ index: number; text: string } | undefined>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const hit = find();
        if (hit || !this.running) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(hit);
        }
      };
      timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(find());
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
    if (!found) {
      const why = this.running ? `not seen within ${timeoutMs} ms` : `not seen before the program exited (${String(this.child.exitCode)})`;
      throw new Error(`${String(pattern)} ${why}. Screen so far:\n${this.screen}\n--- (waiting after offset ${this.mark})`);
    }
    this.mark += found.index + found.text.length;
    return found.text;
  }

  send(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** Waits for `prompt`, then types `keys`. */
  async answer(prompt: string | RegExp, keys: string): Promise<void> {
    await this.waitFor(prompt);
    this.send(keys);
  }

  async exit(timeoutMs = STEP_TIMEOUT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the program did not exit within ${timeoutMs} ms. Screen so far:\n${this.screen}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
      this.child.stdin!.end();
    }
  }

  kill(): void {
    if (this.running && this.child.pid !== undefined) this.child.kill('SIGKILL');
  }
}

const sessions: PtySession[] = [];
function startWizard(cwd: string, args: string[] = []): PtySession {
  const session = new PtySession([process.execPath, BIN, ...args].map(sh).join(' '), cwd);
  sessions.push(session);
  return session;
}

afterEach(() => {
  for (const session of sessions.splice(0)) session.kill();
});

beforeAll(async () => {
  await fs.access(BIN).catch(() => {
    throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  });
  expect(execFileSync('script', ['--version'], { encoding: 'utf8' })).toMatch(/util-linux/);
});

describe('the wizard in a real terminal', () => {
  it('answers every question, writes a tar.bz2 that tar extracts to the same tree, and saves settings.json', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    // A crontab program keeping the table in a file, so the wizard offers to install the schedule.
    const table = path.join(root, 'crontab.txt');
    await fs.writeFile(path.join(root, 'fake-crontab'), `#!/bin/sh\nif [ "$1" != "-l" ]; then cat > '${table}'; elif [ -f '${table}' ]; then cat '${table}'; else echo "no crontab for $(id -un)" >&2; exit 1; fi\n`, { mode: 0o755 });
    const wizard = startWizard(root);

    await wizard.answer('What should be backed up? (file or folder path)', `data${KEY.enter}`);
    await wizard.answer('Add another path? (y/N)', `n${KEY.enter}`);
    await wizard.answer('Destination folder (created if missing): (./backups)', KEY.enter);
    await wizard.waitFor('✔ Destination folder (created if missing): ./backups');
    await wizard.waitFor('Archive format:');
    await wizard.answer(/[❯>] tar\.gz/, KEY.down);
    await wizard.answer(/[❯>] tar\.bz2/, KEY.enter);
    await wizard.waitFor('✔ Archive format: tar.bz2');
    await wizard.answer('Archive name', `nightly${KEY.enter}`);
    await wizard.answer(/Also send the backup to another destination \([^)]*another folder\)\? \(y\/N\)/, `n${KEY.enter}`);
    await wizard.waitFor(`back up:     ${path.join(root, 'data')}`);
    await wizard.waitFor(`format:      tar.bz2`);
    await wizard.answer('Start the backup now? (Y/n)', `y${KEY.enter}`);
    await wizard.waitFor('Backup complete: backups/nightly.tar.bz2');
    const sha256 = (await wizard.waitFor(/sha256 [0-9a-f]{64}/)).slice('sha256 '.length);
    await wizard.answer('Save these answers to config/settings.json for unattended runs? (Y/n)', `y${KEY.enter}`);
    await wizard.waitFor('npx backup run --config config/settings.json');
    // Run it automatically: yes, at the suggested night-time minute.
    await wizard.answer('Run this backup automatically? (Y/n)', KEY.enter);
    const suggested = (await wizard.waitFor(/Suggested: daily 0[1-4]:[0-5]\d/)).slice('Suggested: '.length);
    await wizard.answer(`When should it run? (${suggested})`, KEY.enter);
    // One alert channel: Slack (the default is No).
    await wizard.waitFor('Send an alert when a backup fails or is late?');
    await wizard.waitFor(/[❯>] No/);
    wizard.send(KEY.up);
    await wizard.waitFor(/[❯>] Email/);
    wizard.send(KEY.up);
    await wizard.answer(/[❯>] Slack/, KEY.enter);
    // The URL is masked as it is typed.
    await wizard.answer('Slack webhook URL (hidden):', `https://127.0.0.1:1/services/T0SECRET/B0SECRET/token${KEY.enter}`);
    await wizard.waitFor('Saved SLACK_WEBHOOK_URL in .env');
    await wizard.waitFor(`schedule: (not set) -> "${suggested}"`);
    // Cron is here (the test's own crontab program): install it now, Enter = yes.
    await wizard.answer('Install the schedule on this machine now (a block in your crontab)? (Y/n)', KEY.enter);
    await wizard.waitFor('Wrote this block into your crontab');
    await wizard.waitFor(/Undo: .*schedule remove --config/);
    await wizard.waitFor(/slack: (test message sent|failed: [^\n]+; fix it later and run npx backup notify test --config config\/settings\.json)/);
    await wizard.waitFor('npx backup run --source data --dest ./backups --format tar.bz2 --name nightly');
    // How to see, check and restore: three commands, one a line, each with a comment; no pipeline.
    await wizard.waitFor(/\n {2}npx backup list +# [^\n|]+\n {2}npx backup verify --all +# [^\n|]+\n {2}npx backup restore --to restored +# [^\n|]+\n/);
    const { code } = await wizard.exit();
    expect(wizard.screen).not.toMatch(/npx backup \w+[^\n]*\|/);

    expect(code, wizard.screen).toBe(0);
    const backups = path.join(root, 'backups');
    expect(await listDir(backups)).toEqual(['nightly.tar.bz2', 'nightly.tar.bz2.manifest.json', 'nightly.tar.bz2.sha256']);
    expect(await fs.readFile(path.join(backups, 'nightly.tar.bz2.sha256'), 'utf8')).toBe(`${sha256}  nightly.tar.bz2\n`);
    expect(execFileSync('sha256sum', ['-c', 'nightly.tar.bz2.sha256'], { cwd: backups, encoding: 'utf8' })).toContain(': OK');
    const manifest = JSON.parse(await fs.readFile(path.join(backups, 'nightly.tar.bz2.manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ format: 'tar.bz2', sha256, sources: [path.join(root, 'data')] });

    const extracted = await tempDir('backup-extract-');
    extractWithSystemTool(path.join(backups, 'nightly.tar.bz2'), extracted);
    expect(await listDir(extracted)).toEqual(['data']);
    expect(await describeTree(path.join(extracted, 'data'))).toEqual(await describeTree(src));

    const settings = JSON.parse(await fs.readFile(path.join(root, 'config', 'settings.json'), 'utf8')) as Record<string, unknown>;
    expect(settings).toStrictEqual({
      sources: ['data'], destination: './backups', format: 'tar.bz2', name: 'nightly',
      schedule: suggested, notify: [{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }],
    });
    expect(wizard.screen).not.toContain('SECRET');
    expect(await fs.readFile(table, 'utf8')).toMatch(/^# >>> backup-automation .*\n(.*\n)*\d+ [1-4] \* \* \* cd .* run --config .*settings\.json >\/dev\/null\n/);
    expect(await fs.readFile(path.join(root, '.env'), 'utf8')).toBe("SLACK_WEBHOOK_URL='https://127.0.0.1:1/services/T0SECRET/B0SECRET/token'\n");
  });

  it('retypes a missing source after the error, picks zip, declines the backup and the save: nothing written', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const wizard = startWizard(root);

    await wizard.answer('What should be backed up?', `nope${KEY.enter}`);
    await wizard.waitFor(`${path.join(root, 'nope')} does not exist.`);
    // The typed text stays in the field, as in any line editor: erase it and type again.
    wizard.send(`${KEY.backspace.repeat('nope'.length)}data${KEY.enter}`);
    await wizard.waitFor('✔ What should be backed up? (file or folder path) data');
    await wizard.answer('Add another path?', `n${KEY.enter}`);
    await wizard.answer('Destination folder', KEY.enter);
    await wizard.waitFor('Archive format:');
    await wizard.answer(/[❯>] tar\.gz/, KEY.down);
    await wizard.answer(/[❯>] tar\.bz2/, KEY.down);
    await wizard.answer(/[❯>] zip/, KEY.enter);
    await wizard.waitFor('✔ Archive format: zip');
    await wizard.answer('Archive name', KEY.enter);
    await wizard.answer('Also send the backup to another destination', `n${KEY.enter}`);
    await wizard.answer('Start the backup now?', `n${KEY.enter}`);
    await wizard.answer('Save these answers', `n${KEY.enter}`);
    await wizard.waitFor('npx backup run --source data --dest ./backups --format zip');
    const { code } = await wizard.exit();

    expect(code, wizard.screen).toBe(0);
    expect(wizard.screen).not.toContain('Backup complete');
    const left = await listDir(root);
    expect(left).not.toContain('backups');
    expect(left).not.toContain('config');
  });

  it('same-named sources are accepted and shown as stored; a name with a / is refused at its prompt with what to type', async () => {
    const root = await tempDir();
    for (const dir of ['srv/a/data', 'srv/b/data']) {
      await fs.mkdir(path.join(root, dir), { recursive: true });
      await fs.writeFile(path.join(root, dir, 'f.txt'), `${dir}\n`);
    }
    const wizard = startWizard(root);

    await wizard.answer('What should be backed up?', `srv/a/data${KEY.enter}`);
    await wizard.answer('Add another path?', `y${KEY.enter}`);
    await wizard.answer('Another path to back up:', `srv/a/data/${KEY.enter}`);
    await wizard.waitFor(`${path.join(root, 'srv/a/data')} is already in the list.`);
    wizard.send(`${KEY.backspace.repeat('srv/a/data/'.length)}srv/b/data${KEY.enter}`);
    await wizard.waitFor('Same name as srv/a/data: in the archive they are stored as a/data/ and b/data/.');
    await wizard.answer('Add another path?', `n${KEY.enter}`);
    await wizard.answer('Destination folder', `/proc/backups${KEY.enter}`);
    await wizard.waitFor('/proc/backups is under /proc, a kernel filesystem');
    wizard.send(`${KEY.backspace.repeat('/proc/backups'.length)}${KEY.enter}`);
    await wizard.waitFor('✔ Destination folder (created if missing): ./backups');
    await wizard.answer('Archive format:', KEY.enter);
    await wizard.waitFor('Name tokens: {source} {date} {time} {host}.');
    await wizard.answer('Archive name', `team/{host}${KEY.enter}`);
    await wizard.waitFor(/Not usable as a file name: it has a \/ .*Type team_\{host\} for team_[^ ]+\.tar\.gz\./);
    // Nothing went further: the next question has not been asked.
    expect(wizard.screen).not.toContain('Also send the backup to another destination');
    wizard.send(`${KEY.backspace.repeat('team/{host}'.length)}team_{host}${KEY.enter}`);
    await wizard.waitFor(/Archive file: team_[^ ]+\.tar\.gz/);
    await wizard.answer('Also send the backup to another destination', `n${KEY.enter}`);
    await wizard.waitFor(`${path.join(root, 'srv/a/data')}  (stored as a/data/)`);
    await wizard.waitFor(`${path.join(root, 'srv/b/data')}  (stored as b/data/)`);
    await wizard.answer('Start the backup now?', `n${KEY.enter}`);
    await wizard.answer('Save these answers', `n${KEY.enter}`);
    await wizard.waitFor("npx backup run --source srv/a/data srv/b/data --dest ./backups --format tar.gz --name 'team_{host}'");
    const { code } = await wizard.exit();

    expect(code, wizard.screen).toBe(0);
    const left = await listDir(root);
    expect(left).not.toContain('backups');
    expect(left).not.toContain('config');
  });

  it('a failed run: go back, fix the answer, run again, and overwrite settings.json only after showing what changes (old one kept as .bak); logs to --log-file', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    const working = '{ "sources": ["data"], "format": "zip" }\n';
    await fs.mkdir(path.dirname(settingsFile));
    await fs.writeFile(settingsFile, working);
    const wizard = startWizard(root, ['--log-file', 'wizard.log']);

    await wizard.answer('What should be backed up?', `data${KEY.enter}`);
    await wizard.answer('Add another path?', `n${KEY.enter}`);
    await wizard.answer('Destination folder', `out${KEY.enter}`);
    await wizard.answer('Archive format:', KEY.enter);
    await wizard.answer('Archive name', KEY.enter);
    await wizard.answer('Also send the backup to another destination', `n${KEY.enter}`);
    await wizard.waitFor('Start the backup now?');
    // Between the questions and Start, a file appears where the destination folder should be.
    await fs.writeFile(path.join(root, 'out'), 'not a folder\n');
    wizard.send(`y${KEY.enter}`);
    await wizard.waitFor('The backup failed');
    await wizard.waitFor('What now?');
    await wizard.waitFor('Go back and change the answers');
    await wizard.waitFor('Save these settings anyway (these settings just failed)');
    await wizard.waitFor('Quit without saving');
    wizard.send(KEY.enter);
    // The previous answers are the defaults.
    await wizard.answer('What should be backed up? (file or folder path) (data)', KEY.enter);
    await wizard.answer('Add another path? (y/N)', KEY.enter);
    await wizard.answer('Destination folder (created if missing): (out)', KEY.enter);
    await wizard.waitFor(`${path.join(root, 'out')} exists and is not a folder.`);
    wizard.send(`backups${KEY.enter}`);
    await wizard.answer('Archive format:', KEY.enter);
    await wizard.answer('Archive name', KEY.enter);
    await wizard.answer('Also send the backup to another destination', KEY.enter);
    await wizard.answer('Start the backup now?', KEY.enter);
    await wizard.waitFor(/Backup complete: backups\/data-\d{8}-\d{6}\.tar\.gz/);
    await wizard.answer('Save these answers', KEY.enter);
    await wizard.waitFor('config/settings.json already exists, with other settings:');
    await wizard.waitFor('format: "zip" -> "tar.gz"');
    await wizard.waitFor(/[❯>] No, keep it as it is/);
    wizard.send(KEY.down);
    await wizard.answer(/[❯>] Yes, overwrite it/, KEY.enter);
    await wizard.waitFor('The previous config/settings.json is in config/settings.json.bak.');
    await wizard.answer('Run this backup automatically?', `n${KEY.enter}`);
    await wizard.answer('Send an alert when a backup fails or is late?', KEY.enter);
    await wizard.waitFor('Not scheduled. To add it later');
    const { code } = await wizard.exit();

    expect(code, wizard.screen).toBe(0);
    expect(await fs.readFile(`${settingsFile}.bak`, 'utf8')).toBe(working);
    expect(JSON.parse(await fs.readFile(settingsFile, 'utf8'))).toStrictEqual({ sources: ['data'], destination: 'backups', format: 'tar.gz', logFile: 'wizard.log' });
    const [archive] = (await listDir(path.join(root, 'backups'))).filter((f) => f.endsWith('.tar.gz'));
    const extracted = await tempDir('backup-extract-');
    extractWithSystemTool(path.join(root, 'backups', archive!), extracted);
    expect(await describeTree(path.join(extracted, 'data'))).toEqual(await describeTree(src));
    // Both runs logged to --log-file, none to the default log.
    const log = await fs.readFile(path.join(root, 'wizard.log'), 'utf8');
    expect(log).toContain(archive!);
    expect(await listDir(root)).not.toContain('logs');
  });

  it('a second destination: "Another folder" picked with the arrow keys, named by Enter, checked, listed in the summary, written, saved as the destinations list', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const wizard = startWizard(root);

    await wizard.answer('What should be backed up?', `data${KEY.enter}`);
    await wizard.answer('Add another path?', `n${KEY.enter}`);
    await wizard.answer('Destination folder', KEY.enter);
    await wizard.answer('Archive format:', KEY.enter);
    await wizard.answer('Archive name', KEY.enter);
    await wizard.answer('Also send the backup to another destination', `y${KEY.enter}`);
    await wizard.waitFor('Kind of destination:');
    // The kinds, S3 first (the default); "Another folder" is the last.
    await wizard.waitFor(/[❯>] Amazon S3 or S3-compatible/);
    const folderChoice = 'Another folder (a second disk, a mounted share)';
    await wizard.waitFor(folderChoice);
    wizard.send(KEY.up);
    await wizard.answer(new RegExp(`[❯>] ${folderChoice.replace(/[()]/g, '\\$&')}`), KEY.enter);
    await wizard.answer('Folder (created if missing):', `mirror${KEY.enter}`);
    await wizard.answer('Name for this destination (in messages, and for --from NAME): (local-2)', KEY.enter);
    await wizard.waitFor('OK: local-2 can be created and written.');
    await wizard.answer('Add another destination? (y/N)', KEY.enter);
    await wizard.answer('Keep the copy in ./backups too? (No: only in the other destinations) (Y/n)', KEY.enter);
    await wizard.waitFor(`into:        local    folder  ${path.join(root, 'backups')}`);
    await wizard.waitFor(`local-2  folder  ${path.join(root, 'mirror')}`);
    await wizard.answer('Start the backup now?', `y${KEY.enter}`);
    await wizard.waitFor(/Backup complete/);
    await wizard.answer('Save these answers', `y${KEY.enter}`);
    await wizard.answer('Run this backup automatically?', `n${KEY.enter}`);
    await wizard.answer('Send an alert when a backup fails or is late?', KEY.enter);
    await wizard.waitFor('No single command line repeats it');
    const { code } = await wizard.exit();

    expect(code, wizard.screen).toBe(0);
    const backups = await listDir(path.join(root, 'backups'));
    expect(backups.filter((f) => f.endsWith('.tar.gz'))).toHaveLength(1);
    expect(await listDir(path.join(root, 'mirror'))).toEqual(backups);
    expect(JSON.parse(await fs.readFile(path.join(root, 'config', 'settings.json'), 'utf8'))).toStrictEqual({
      sources: ['data'],
      format: 'tar.gz',
      destinations: [
        { name: 'local', type: 'local', path: './backups' },
        { name: 'local-2', type: 'local', path: 'mirror' },
      ],
    });
  });

  it('Ctrl-C at the first prompt exits 130 and leaves no backups folder', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const wizard = startWizard(root);

    await wizard.answer('What should be backed up?', KEY.ctrlC);
    const { code } = await wizard.exit();

    expect(code, wizard.screen).toBe(130);
    const left = await listDir(root);
    expect(left).not.toContain('backups');
    expect(left).not.toContain('config');
    expect(wizard.screen).not.toMatch(/unexpected error|Backup complete/i);
  });
});

describe('the wizard without a terminal', () => {
  it('exits 2 and says to use `backup run` (or --config) instead of waiting for answers', async () => {
    const root = await tempDir();
    await makeRichTree(root);

    const run = await runCli([], { cwd: root, input: 'data\n' });

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('backup run');
    expect(run.stderr).toContain('--config');
    expect(run.stdout).not.toContain('What should be backed up');
    expect(await listDir(root)).toEqual(['data']);
  });
});
