/**
 * The wizard's backup is recorded like any run (command 'wizard', trigger
 * 'wizard'), beside the wizard's log. The person is a lenient script: the
 * source is ./data, the backup starts, every other question takes its
 * default or "no", so the test does not depend on the exact questions.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { wizardCommand } from '../../src/cli/wizard-command.js';
import type { Prompter } from '../../src/cli/wizard.js';
import type { CliIO } from '../../src/cli/io.js';
import type { HistoryRecord } from '../../src/automation/types.js';
import { readHistory } from '../../src/automation/history.js';
import { runCli } from '../helpers/cli.js';

const person: Prompter = {
  input: async (config) => (/What should be backed up/.test(config.message) ? 'data' : (config.default ?? '')),
  select: async (config) => config.default ?? config.choices[0]!.value,
  confirm: async (config) => config.message === 'Start the backup now?',
  password: async () => '',
};

/** The wizard's I/O in a (fake) terminal, its output thrown away. */
function terminalIo(root: string, env: NodeJS.ProcessEnv, now: Date): CliIO {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  stdin.isTTY = true;
  return {
    stdin,
    stdout: new PassThrough().resume(),
    stderr: new PassThrough().resume(),
    env,
    cwd: root,
    signal: new AbortController().signal,
    now: () => now,
    host: 'testhost',
    home: os.homedir(),
  };
}

describe('the wizard records its backup', () => {
  it('start + end records, command wizard, under the job of its sources', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const io = terminalIo(root, {}, new Date(2026, 10, 26, 2, 0, 0));
    expect(await wizardCommand(io, { verbose: false }, person)).toBe(0);
    const lines = (await fs.readFile(path.join(root, 'logs', 'history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as HistoryRecord);
    expect(lines.map((r) => [r.type, r.command, r.trigger, r.outcome])).toEqual([
      ['start', 'wizard', 'wizard', 'running'],
      ['end', 'wizard', 'wizard', 'ok'],
    ]);
    expect(lines[1]).toMatchObject({ jobName: 'data', job: expect.stringMatching(/^sources:/), host: 'testhost', exitCode: 0, archive: 'backups/data-20261126-020000.tar.gz', files: expect.any(Number) });
  });

  it('once the answers are saved, the run is filed under the settings file\'s job too: status says OK, not never run', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    // No crontab program: the wizard never offers to install into this machine's crontab.
    const io = terminalIo(root, { BACKUP_CRONTAB: '/nonexistent/crontab' }, new Date());
    const saving: Prompter = { ...person, confirm: async (config) => config.message === 'Start the backup now?' || /^Save these answers/.test(config.message) };
    expect(await wizardCommand(io, { verbose: false }, saving)).toBe(0);
    const config = path.join(root, 'config', 'settings.json');
    const runs = (await readHistory(path.join(root, 'logs', 'history.jsonl'))).runs;
    expect(runs.map((r) => [r.job, r.type, r.outcome])).toEqual([[`config:${config}`, 'end', 'ok']]);
    const status = await runCli(['status'], { cwd: root });
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/: OK - last run succeeded\n/);
  });
});
