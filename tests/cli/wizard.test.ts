/**
 * The wizard in-process: the questions (src/cli/wizard.ts) driven by a
 * scripted Prompter that answers like a person (a rejected answer is
 * "retyped" with the next scripted one), and `wizardCommand` with a fake
 * terminal, running a real backup into a temp folder.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { askBackupQuestions, type WizardAnswers, type WizardContext, type WizardDestination } from '../../src/cli/wizard.js';
import { answersToSettings, equivalentCommand, settingsDifferences, wizardCommand } from '../../src/cli/wizard-command.js';
import { main } from '../../src/cli/program.js';
import { checkSource, resolveUserPath } from '../../src/config/check-paths.js';
import { expandHome } from '../../src/config/expand-home.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { mergeSettings, resolvePaths } from '../../src/config/merge-settings.js';
import { saveSettings } from '../../src/config/save-settings.js';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { Act, ENTER, NO_AUTOMATION, NOW, ScriptedPrompter, fakeTerminal, promptExit, refusingPrompter, type Scripted } from '../helpers/wizard-script.js';

function context(cwd: string, overrides: Partial<WizardContext> = {}): WizardContext & { said: string[] } {
  const said: string[] = [];
  return {
    cwd,
    home: os.homedir(),
    now: NOW,
    host: 'testhost',
    bzip2Available: true,
    checkDestination: () => Promise.reject(new Error('checkDestination() must not be called')),
    say: (line) => said.push(line),
    said,
    ...overrides,
  };
}

/** The words a POSIX shell makes of a command line (HOME as given). */
function shellWords(commandLine: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${commandLine}`], { env, encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

afterEach(() => {
  vi.unstubAllEnvs();
});

// ---------------------------------------------------------------------------

describe('askBackupQuestions', () => {
  it('asks source, another?, destination, format, name, S3 in that order, with the documented defaults', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const prompts = new ScriptedPrompter(['data', false, ENTER, ENTER, ENTER, false]);

    const answers = await askBackupQuestions(prompts, context(root));

    expect(prompts.asked.map((q) => `${q.kind}: ${q.message}`)).toEqual([
      expect.stringMatching(/^input: What should be backed up\?/),
      expect.stringMatching(/^confirm: Add another path\?/),
      expect.stringMatching(/^input: Destination folder/),
      expect.stringMatching(/^select: Archive format/),
      expect.stringMatching(/^input: Archive name/),
      expect.stringMatching(/^confirm: Also send the backup to another destination \(S3, Azure Blob, .*another folder\)\?/),
    ]);
    const [, another, destination, format, name, s3] = prompts.asked;
    expect(another!.default).toBe(false);
    expect(destination!.default).toBe('./backups');
    expect(format!.default).toBe('tar.gz');
    expect(format!.choices!.map((c) => c.value)).toEqual(['zip', 'tar.gz', 'tar.bz2']);
    // The name question previews the default name for this source and clock (io.now, not the wall clock).
    expect(name!.message).toContain('data-20261126-020000');
    expect(s3!.default).toBe(false);
    expect(prompts.rejected).toEqual([]);
    expect(prompts.unused).toEqual([]);

    expect(answers).toEqual<WizardAnswers>({
      sources: [path.join(root, 'data')],
      sourcesTyped: ['data'],
      destination: path.join(root, 'backups'),
      destinationTyped: './backups',
      format: 'tar.gz',
      name: '',
      extras: [],
      keepLocal: true,
      secrets: {},
    });
  });

  it('rejects a missing path (naming it), an empty answer and a FIFO, then accepts a real folder', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const prompts = new ScriptedPrompter(['no-such-folder', '', 'pipe', 'data', false, ENTER, 'zip', '', false]);

    const answers = await askBackupQuestions(prompts, context(root));

    expect(prompts.rejected).toEqual([
      { message: expect.stringMatching(/^What should be backed up/), typed: 'no-such-folder', problem: `${path.join(root, 'no-such-folder')} does not exist.` },
      { message: expect.stringMatching(/^What should be backed up/), typed: '', problem: 'Enter the path of a file or folder to back up.' },
      { message: expect.stringMatching(/^What should be backed up/), typed: 'pipe', problem: expect.stringContaining('is not a regular file or folder') },
    ]);
    // Retyping is not a new question.
    expect(prompts.asked.filter((q) => q.message.startsWith('What should be backed up'))).toHaveLength(1);
    expect(answers.sources).toEqual([path.join(root, 'data')]);
    expect(answers.format).toBe('zip');
  });

  it('takes two sources, asking "Another path" for the second, and refuses the same path spelled differently', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.writeFile(path.join(root, 'notes.txt'), 'notes\n');
    const prompts = new ScriptedPrompter(['data', true, './data/', 'notes.txt', false, ENTER, 'tar.bz2', 'nightly', false]);

    const answers = await askBackupQuestions(prompts, context(root));

    expect(prompts.rejected).toEqual([{ message: 'Another path to back up:', typed: './data/', problem: `${path.join(root, 'data')} is already in the list.` }]);
    expect(prompts.asked.map((q) => q.message).slice(0, 4)).toEqual([
      'What should be backed up? (file or folder path)',
      'Add another path?',
      'Another path to back up:',
      'Add another path?',
    ]);
    expect(answers.sources).toEqual([path.join(root, 'data'), path.join(root, 'notes.txt')]);
    expect(answers.sourcesTyped).toEqual(['data', 'notes.txt']);
    expect(answers.format).toBe('tar.bz2');
    expect(answers.name).toBe('nightly');
  });

  it('rejects a file, a path through a file and a source as the destination, then accepts a new folder', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.writeFile(path.join(root, 'file.txt'), 'not a folder\n');
    const prompts = new ScriptedPrompter(['data', false, 'file.txt', 'file.txt/sub', 'data', 'out/nested', ENTER, '', false]);

    const answers = await askBackupQuestions(prompts, context(root));

    const file = path.join(root, 'file.txt');
    expect(prompts.rejected.map((r) => [r.typed, r.problem])).toEqual([
      ['file.txt', `${file} exists and is not a folder.`],
      ['file.txt/sub', `${path.join(file, 'sub')} cannot be created: ${file} is not a folder.`],
      ['data', `${path.join(root, 'data')} is also a source; choose a folder outside it.`],
    ]);
    expect(prompts.rejected.every((r) => r.message.startsWith('Destination folder'))).toBe(true);
    expect(answers.destination).toBe(path.join(root, 'out', 'nested'));
    expect(answers.destinationTyped).toBe('out/nested');
    expect(answers.format).toBe('tar.gz');
  });

  it('expands ~/ in sources and destination to the home folder', async () => {
    expect(expandHome('~/docs/x', '/home/ann')).toBe('/home/ann/docs/x');
    expect(expandHome('~', '/home/ann')).toBe('/home/ann');
    expect(expandHome('a/~/b', '/home/ann')).toBe('a/~/b');
    expect(expandHome('~bob/x', '/home/ann')).toBe('~bob/x');

    const home = await tempDir('backup-home-');
    const cwd = await tempDir();
    await makeRichTree(home);
    vi.stubEnv('HOME', home);
    expect(os.homedir()).toBe(home);
    expect(resolveUserPath('  ~/data ', cwd, home)).toBe(path.join(home, 'data'));
    expect(await checkSource('~/data', cwd, home)).toBeUndefined();
    expect(await checkSource('~/missing', cwd, home)).toBe(`${path.join(home, 'missing')} does not exist.`);

    const prompts = new ScriptedPrompter(['~/data', false, '~/backups', ENTER, '', false]);
    const answers = await askBackupQuestions(prompts, context(cwd));
    expect(prompts.rejected).toEqual([]);
    expect(answers.sources).toEqual([path.join(home, 'data')]);
    expect(answers.destination).toBe(path.join(home, 'backups'));
  });

  it('marks tar.bz2 when no bzip2 is installed', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const prompts = new ScriptedPrompter(['data', false, ENTER, 'tar.bz2', '', false]);
    const answers = await askBackupQuestions(prompts, context(root, { bzip2Available: false }));
    const formatQuestion = prompts.asked.find((q) => q.kind === 'select')!;
    expect(formatQuestion.choices!.find((c) => c.value === 'tar.bz2')!.name).toMatch(/not installed.*zip will be written/);
    expect(answers.format).toBe('tar.bz2');
  });

  it('another destination, S3: asks service, bucket, prefix, endpoint, region, class, name; checks it; a failed check offers fix/retry/skip/quit, and "fix" asks again with the answers as defaults', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const checked: WizardDestination[] = [];
    const prompts = new ScriptedPrompter([
      'data', false, ENTER, ENTER, '', true,
      // first try: kind S3 (the default), another S3-compatible store; a bad bucket name is retyped, then the check fails
      ENTER, 'other', 'bad/bucket', 'backups', ENTER, 'http://127.0.0.1:9000', ENTER, 'STANDARD', ENTER,
      'fix',
      // second try: keeps the previous answers as defaults, fixes the bucket
      ENTER, 'backups-2', ENTER, ENTER, 'eu-west-1', 'GLACIER_IR', ENTER,
      false, // add another destination?
      false, // keep the local copy too?
    ]);
    const ctx = context(root, {
      defaultRegion: 'us-east-2',
      checkDestination: async (d) => {
        checked.push(d);
        return checked.length === 1
          ? { message: 'Bucket "backups" does not exist at http://127.0.0.1:9000; create it or check the name.', code: 'S3_NO_SUCH_BUCKET' }
          : undefined;
      },
    });
    const answers = await askBackupQuestions(prompts, ctx);
    expect(prompts.unused).toEqual([]);
    expect(prompts.rejected).toEqual([expect.objectContaining({ typed: 'bad/bucket', problem: expect.stringMatching(/no slashes/) })]);
    expect(prompts.asked.filter((q) => q.message.startsWith('Key prefix')).map((q) => q.default)).toEqual(['testhost/', 'testhost/']);
    expect(prompts.asked.find((q) => q.message.startsWith('Region'))!.default).toBe('us-east-2');
    expect(prompts.asked.filter((q) => q.message.startsWith('Name for this destination')).map((q) => q.default)).toEqual(['s3', 's3']);
    expect(checked).toEqual([
      { name: 's3', type: 's3', bucket: 'backups', prefix: 'testhost/', region: 'us-east-2', endpoint: 'http://127.0.0.1:9000', storageClass: 'STANDARD' },
      { name: 's3', type: 's3', bucket: 'backups-2', prefix: 'testhost/', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', storageClass: 'GLACIER_IR' },
    ]);
    const menu = prompts.asked.find((q) => q.message === 'What now with "s3"?')!;
    expect(menu.default).toBe('fix');
    expect(menu.choices!.map((c) => c.value)).toEqual(['fix', 'retry', 'skip', 'quit']);
    expect(ctx.said).toContain(
      'Destination "s3" (s3://backups/testhost/ at http://127.0.0.1:9000) cannot be used: Bucket "backups" does not exist at http://127.0.0.1:9000; create it or check the name.',
    );
    expect(answers.extras).toEqual([checked[1]]);
    expect(answers.keepLocal).toBe(false);
  });

  it('another destination whose check fails, "skip": left out, said so, and no "keep the local copy?" (nothing else is left)', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const prompts = new ScriptedPrompter(['data', false, ENTER, ENTER, '', true, ENTER, ENTER, 'bkt', ENTER, ENTER, ENTER, ENTER, 'skip', false]);
    const ctx = context(root, { checkDestination: async () => ({ message: 'Access denied for s3:ListBucket on bucket "bkt".', code: 'S3_ACCESS_DENIED' }) });
    const answers = await askBackupQuestions(prompts, ctx);
    expect(prompts.unused).toEqual([]);
    expect(answers.extras).toEqual([]);
    expect(answers.keepLocal).toBe(true);
    expect(ctx.said).toContain('Left out "s3".');
    expect(prompts.asked.some((q) => q.message.startsWith('Keep the copy'))).toBe(false);
  });
});

describe('answersToSettings and equivalentCommand', () => {
  const base: WizardAnswers = {
    sources: ['/work/my data', '/work/notes.txt'],
    sourcesTyped: ['my data', 'notes.txt'],
    destination: '/work/backups',
    destinationTyped: './backups',
    format: 'tar.bz2',
    name: 'nightly',
    extras: [],
    keepLocal: true,
    secrets: {},
  };

  it('keeps paths as typed and leaves the default name out of settings.json', () => {
    expect(answersToSettings(base)).toStrictEqual({
      sources: ['my data', 'notes.txt'],
      destination: './backups',
      format: 'tar.bz2',
      name: 'nightly',
    });
    expect(answersToSettings({ ...base, name: '' })).toStrictEqual({
      sources: ['my data', 'notes.txt'],
      destination: './backups',
      format: 'tar.bz2',
    });
  });

  it('prints one shell-quoted command line that a POSIX shell splits back into the same words', () => {
    const line = equivalentCommand(base);
    expect(line).toBe(`npx backup run --source 'my data' notes.txt --dest ./backups --format tar.bz2 --name nightly`);
    expect(equivalentCommand({ ...base, name: '' })).toBe(`npx backup run --source 'my data' notes.txt --dest ./backups --format tar.bz2`);

    const awkward: WizardAnswers = { ...base, sourcesTyped: [`it's here`], destinationTyped: 'back ups/$HOME', name: '{host}-{date}' };
    const awkwardLine = equivalentCommand(awkward)!;
    expect(awkwardLine).toBe(`npx backup run --source 'it'\\''s here' --dest 'back ups/$HOME' --format tar.bz2 --name '{host}-{date}'`);
    expect(shellWords(awkwardLine)).toEqual([
      'npx', 'backup', 'run', '--source', `it's here`, '--dest', 'back ups/$HOME', '--format', 'tar.bz2', '--name', '{host}-{date}',
    ]);
  });

  it('a ~/ source saved to settings.json still names the home folder when the settings are loaded', async () => {
    const home = await tempDir('backup-home-');
    const cwd = await tempDir();
    await makeRichTree(home);
    vi.stubEnv('HOME', home);
    const answers = await askBackupQuestions(new ScriptedPrompter(['~/data', false, ENTER, ENTER, '', false]), context(cwd));
    const file = path.join(cwd, 'config', 'settings.json');
    await saveSettings(file, answersToSettings(answers));

    const loaded = await loadSettings(file);
    expect(resolvePaths(mergeSettings(loaded, {}), cwd, home).sources).toEqual([path.join(home, 'data')]);
  });

  it('a ~/ destination saved to settings.json is the home folder when the settings are loaded, not ./~', async () => {
    const home = await tempDir('backup-home-');
    const cwd = await tempDir();
    await makeRichTree(cwd);
    vi.stubEnv('HOME', home);
    const answers = await askBackupQuestions(new ScriptedPrompter(['data', false, '~/backups', ENTER, '', false]), context(cwd));
    expect(answers.destination).toBe(path.join(home, 'backups'));
    const file = path.join(cwd, 'config', 'settings.json');
    await saveSettings(file, answersToSettings(answers));

    const loaded = await loadSettings(file);
    expect(resolvePaths(mergeSettings(loaded, {}), cwd, home).destination).toBe(path.join(home, 'backups'));
  });

  it('a ~/ source in the printed command line reaches the program as the home folder', async () => {
    const home = await tempDir('backup-home-');
    const cwd = await tempDir();
    await makeRichTree(home);
    vi.stubEnv('HOME', home);
    const answers = await askBackupQuestions(new ScriptedPrompter(['~/data', false, ENTER, ENTER, '', false]), context(cwd));

    const words = shellWords(equivalentCommand(answers)!, { ...process.env, HOME: home });
    const source = words[words.indexOf('--source') + 1]!;
    expect(path.resolve(cwd, source)).toBe(path.join(home, 'data'));
  });

  it('with S3: the settings block and the flags reproduce the answers', () => {
    const withS3: WizardAnswers = {
      ...base,
      extras: [{ name: 's3', type: 's3', bucket: 'backups', prefix: 'host1/', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', storageClass: 'GLACIER_IR' }],
      keepLocal: false,
    };
    expect(answersToSettings(withS3).s3).toStrictEqual({
      bucket: 'backups',
      prefix: 'host1/',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
      storageClass: 'GLACIER_IR',
      keepLocal: false,
    });
    expect(equivalentCommand(withS3)).toBe(
      "npx backup run --source 'my data' notes.txt --dest ./backups --format tar.bz2 --name nightly --s3-bucket backups --s3-prefix host1/ --s3-region eu-west-1 --s3-endpoint http://127.0.0.1:9000 --s3-storage-class GLACIER_IR --no-local",
    );
  });
});

describe('wizardCommand', () => {
  it('without a terminal: exit 2, says to use `backup run` / --config, asks nothing, writes nothing', async () => {
    for (const isTTY of [false, undefined]) {
      const cwd = await tempDir();
      const term = fakeTerminal(cwd, isTTY);

      const code = await wizardCommand(term.io, { verbose: false }, refusingPrompter);

      expect(code).toBe(2);
      expect(term.stderr()).toContain('backup run');
      expect(term.stderr()).toContain('--config');
      expect(term.stdout()).toBe('');
      expect(await listDir(cwd)).toEqual([]);
    }
  });

  it('runs a real backup that the system tool extracts to the same tree, saves settings.json that loads and reruns', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(['data', false, ENTER, ENTER, ENTER, false, true, true, ...NO_AUTOMATION]);

    const code = await wizardCommand(term.io, { verbose: false }, prompts);

    expect(code, term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.map((q) => q.message).slice(-4)).toEqual([
      'Start the backup now?',
      'Save these answers to config/settings.json for unattended runs?',
      'Run this backup automatically?',
      'Send an alert when a backup fails or is late?',
    ]);

    // The archive, its checksum and manifest.
    const name = 'data-20261126-020000.tar.gz';
    expect(await listDir(path.join(root, 'backups'))).toEqual([name, `${name}.manifest.json`, `${name}.sha256`]);
    const archive = path.join(root, 'backups', name);
    const sha256 = (await fs.readFile(`${archive}.sha256`, 'utf8')).split(' ')[0]!;
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(execFileSync('sha256sum', ['-c', `${name}.sha256`], { cwd: path.join(root, 'backups'), encoding: 'utf8' })).toContain(': OK');
    const out = term.stdout();
    expect(out).toContain(`Backup complete: backups/${name}`);
    expect(out).toContain(`sha256 ${sha256}`);

    const extracted = await tempDir('backup-extract-');
    extractWithSystemTool(archive, extracted);
    expect(await listDir(extracted)).toEqual(['data']);
    expect(await describeTree(path.join(extracted, 'data'))).toEqual(await describeTree(src));

    // settings.json: the answers, loadable, and the hint lines.
    const settingsFile = path.join(root, 'config', 'settings.json');
    expect(JSON.parse(await fs.readFile(settingsFile, 'utf8'))).toStrictEqual({ sources: ['data'], destination: './backups', format: 'tar.gz' });
    expect(await loadSettings(settingsFile)).toStrictEqual({ sources: ['data'], destination: './backups', format: 'tar.gz' });
    expect(out).toContain('Saved config/settings.json.');
    expect(out).toContain('  npx backup run --config config/settings.json\n');
    expect(out).toContain('  npx backup run --source data --dest ./backups --format tar.gz\n');

    // The saved file repeats the same backup without prompts.
    const later = fakeTerminal(root, false, new Date(2026, 10, 26, 3, 0, 0));
    expect(await main(['run', '--config', 'config/settings.json'], later.io), later.stderr()).toBe(0);
    const rerun = path.join(root, 'backups', 'data-20261126-030000.tar.gz');
    const again = await tempDir('backup-extract-');
    extractWithSystemTool(rerun, again);
    expect(await describeTree(path.join(again, 'data'))).toEqual(await describeTree(src));
  });

  it('keeps an existing config/settings.json when "Replace it?" is declined', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    const old = '{\n  "sources": ["elsewhere"],\n  "format": "zip"\n}\n';
    await fs.mkdir(path.dirname(settingsFile));
    await fs.writeFile(settingsFile, old);
    const term = fakeTerminal(root, true);
    // Do not start the backup; save: yes; replace: no (the default).
    const prompts = new ScriptedPrompter(['data', false, ENTER, 'tar.bz2', 'nightly', false, false, true, ENTER]);

    const code = await wizardCommand(term.io, { verbose: false }, prompts);

    expect(code, term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.map((q) => q.message).slice(-2)).toEqual([
      'Save these answers to config/settings.json for unattended runs?',
      'Replace config/settings.json?',
    ]);
    expect(prompts.asked.at(-1)!.default).toBe('keep');
    // What the file says now and what it would say, before the question.
    expect(term.stdout()).toContain('config/settings.json already exists, with other settings:');
    expect(term.stdout()).toContain('  sources: ["elsewhere"] -> ["data"]');
    expect(term.stdout()).toContain('  format: "zip" -> "tar.bz2"');
    expect(await fs.readFile(settingsFile, 'utf8')).toBe(old);
    expect(await listDir(path.dirname(settingsFile))).toEqual(['settings.json']);
    expect(term.stdout()).toContain('Kept the existing config/settings.json.');
    expect(term.stdout()).not.toContain('Saved config/settings.json');
    expect(term.stdout()).toContain('npx backup run --source data --dest ./backups --format tar.bz2 --name nightly');
    // The backup was not started: nothing written.
    expect(await listDir(root)).not.toContain('backups');
  });

  it('replaces an existing config/settings.json when the user says yes', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    await fs.mkdir(path.dirname(settingsFile));
    await fs.writeFile(settingsFile, '{ "sources": ["elsewhere"] }\n');
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(['data', false, ENTER, 'zip', 'nightly', false, false, true, 'overwrite', ...NO_AUTOMATION]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(JSON.parse(await fs.readFile(settingsFile, 'utf8'))).toStrictEqual({
      sources: ['data'],
      destination: './backups',
      format: 'zip',
      name: 'nightly',
    });
    // The replaced file is kept beside it.
    expect(await listDir(path.dirname(settingsFile))).toEqual(['settings.json', 'settings.json.bak']);
    expect(await fs.readFile(`${settingsFile}.bak`, 'utf8')).toBe('{ "sources": ["elsewhere"] }\n');
    expect(term.stdout()).toContain('The previous config/settings.json is in config/settings.json.bak.');
  });

  it.each([
    ['at the format question', ['data', false, ENTER], 'ExitPromptError'],
    ['at "Start the backup now?"', ['data', false, ENTER, ENTER, '', false], 'ExitPromptError'],
    ['by an aborted prompt at the first question', [], 'AbortPromptError'],
  ] as const)('a prompt cancelled %s exits 130 and writes no archive and no settings', async (_where, before, errorName) => {
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([...before, promptExit(errorName), true, true]);

    const code = await wizardCommand(term.io, { verbose: false }, prompts);

    expect(code).toBe(130);
    expect(prompts.unused).toEqual([true, true]);
    const left = await listDir(root);
    expect(left).not.toContain('backups');
    expect(left).not.toContain('config');
    expect(term.stdout()).not.toContain('Backup complete');
    expect(term.stderr()).not.toMatch(/error/i);
  });
});

// ---------------------------------------------------------------------------
// Issue 9: every answer checked at its prompt; a failed run; the save step; the log file; the closing hint.

describe('every answer is checked at its own prompt', () => {
  it('sources: whitespace-only and duplicate paths are refused; same-named folders are accepted and shown as stored', async () => {
    const root = await tempDir();
    for (const dir of ['srv/a/data', 'srv/b/data']) {
      await fs.mkdir(path.join(root, dir), { recursive: true });
      await fs.writeFile(path.join(root, dir, 'f.txt'), `${dir}\n`);
    }
    await fs.symlink('srv/a', path.join(root, 'link'));
    const ctx = context(root);
    const prompts = new ScriptedPrompter(['   ', 'srv/a/data', true, 'srv/a/data/.', 'link/data', 'srv/b/data', false, ENTER, ENTER, ENTER, false]);

    const answers = await askBackupQuestions(prompts, ctx);

    const a = path.join(root, 'srv/a/data');
    expect(prompts.rejected.map((r) => [r.typed, r.problem])).toEqual([
      ['   ', 'Enter the path of a file or folder to back up.'],
      ['srv/a/data/.', `${a} is already in the list.`],
      ['link/data', `${path.join(root, 'link/data')} is the same as ${a} (${a}), already in the list.`],
    ]);
    expect(answers.sources).toEqual([path.join(root, 'srv/a/data'), path.join(root, 'srv/b/data')]);
    expect(ctx.said).toContain('  Same name as srv/a/data: in the archive they are stored as a/data/ and b/data/.');
  });

  it('destination: /proc, /sys and a link into /proc are refused at the prompt, before anything is created', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.symlink('/proc', path.join(root, 'p'));
    const prompts = new ScriptedPrompter(['data', false, '/proc/backups', '/sys/kernel/backups', 'p/backups', '  ', 'out', ENTER, ENTER, false]);

    const answers = await askBackupQuestions(prompts, context(root));

    expect(prompts.rejected.map((r) => [r.typed, r.problem])).toEqual([
      ['/proc/backups', expect.stringMatching(/^\/proc\/backups is under \/proc, a kernel filesystem/)],
      ['/sys/kernel/backups', expect.stringMatching(/under \/sys, a kernel filesystem/)],
      ['p/backups', expect.stringMatching(new RegExp(`^${path.join(root, 'p/backups')} leads to /proc/backups, under /proc`))],
      ['  ', 'Enter a destination folder.'],
    ]);
    expect(answers.destination).toBe(path.join(root, 'out'));
  });

  it('name: team/{host}, ../x, unknown tokens and an extension are refused with the reason and what to type; a good one is previewed', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const ctx = context(root);
    const prompts = new ScriptedPrompter(['data', false, ENTER, 'zip', 'team/{host}', '../x', '{Date}-{source}', 'nightly.zip', '{source}-{date}', false]);

    const answers = await askBackupQuestions(prompts, ctx);

    const nameQuestion = prompts.asked.find((q) => q.message.startsWith('Archive name'))!;
    expect(nameQuestion.message).toBe('Archive name (Enter for data-20261126-020000):');
    // The hint lists every token, {source} included.
    expect(ctx.said).toContain('  Name tokens: {source} {date} {time} {host}. The default is {source}-{date}-{time}.');
    expect(prompts.rejected.map((r) => [r.typed, r.problem])).toEqual([
      ['team/{host}', 'Not usable as a file name: it has a / (one file name, not a path). Type team_{host} for team_testhost.zip.'],
      ['../x', 'Not usable as a file name: it has a / (one file name, not a path), and starts with ".". Type x for x.zip.'],
      ['{Date}-{source}', '{Date} is not a token; the tokens are {source} {date} {time} {host}.'],
      ['nightly.zip', 'Not usable as a file name: it ends with .zip (the extension is added for you). Type nightly for nightly.zip.'],
    ]);
    expect(answers.name).toBe('{source}-{date}');
    expect(ctx.said).toContain('  Archive file: data-20261126.zip (today; each run fills in its own date and time)');
  });

  it('S3: the bucket naming rules, the region and the prefix are checked at their prompts', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const prompts = new ScriptedPrompter([
      'data', false, ENTER, ENTER, '', true, ENTER, ENTER,
      'My_Backups', 'ab', 'b@ckups', '192.168.1.10', 'b..x', '-backups', 'backups',
      '../up', 'host1/',
      'EU West', 'eu-west-1',
      'STANDARD', ENTER, false, true,
    ]);

    const answers = await askBackupQuestions(prompts, context(root, { checkDestination: async () => undefined }));

    expect(prompts.rejected.map((r) => [r.typed, r.problem])).toEqual([
      ['My_Backups', 'A bucket name has no capital letters (did you mean my-backups?).'],
      ['ab', 'A bucket name is 3 to 63 characters long (this one is 2).'],
      ['b@ckups', 'A bucket name has only lowercase letters, digits, dots and hyphens (did you mean b-ckups?).'],
      ['192.168.1.10', 'A bucket name is not an IP address.'],
      ['b..x', 'A bucket name has no two dots in a row.'],
      ['-backups', 'A bucket name starts and ends with a letter or digit.'],
      ['../up', expect.stringContaining('"." or ".." part')],
      ['EU West', expect.stringContaining('A region is lowercase letters')],
    ]);
    expect(answers.extras).toEqual([{ name: 's3', type: 's3', bucket: 'backups', prefix: 'host1/', region: 'eu-west-1', storageClass: 'STANDARD' }]);
    expect(answers.keepLocal).toBe(true);
  });

  it('S3 without credentials: explains where they come from; "leave it out" is the default, quit ends the wizard (130)', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const noCredentials = async (): Promise<{ message: string; code: string }> => ({ message: 'No AWS credentials found.', code: 'S3_NO_CREDENTIALS' });
    const ctx = context(root, { checkDestination: noCredentials });
    const prompts = new ScriptedPrompter(['data', false, ENTER, ENTER, '', true, ENTER, ENTER, 'backups', ENTER, ENTER, ENTER, ENTER, ENTER, false]);

    const answers = await askBackupQuestions(prompts, ctx);

    expect(prompts.unused).toEqual([]);
    expect(answers.extras).toEqual([]);
    const menu = prompts.asked.at(-2)!;
    expect(menu.message).toBe('What now with "s3"?');
    expect(menu.default).toBe('skip');
    expect(ctx.said.join('\n')).toMatch(/\.env file in this folder that sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    expect(ctx.said.join('\n')).toContain('AWS_PROFILE');
    expect(ctx.said.join('\n')).toContain('~/.aws/credentials');

    // Quit: the wizard ends (130) with nothing run and nothing saved.
    const term = fakeTerminal(root, true);
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
    vi.stubEnv('AWS_SESSION_TOKEN', undefined);
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', path.join(root, 'no-credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', path.join(root, 'no-config'));
    const quitting = new ScriptedPrompter(['data', false, ENTER, ENTER, '', true, ENTER, 'other', 'backups', ENTER, 'http://127.0.0.1:9', 'us-east-1', ENTER, ENTER, 'quit']);
    expect(await wizardCommand(term.io, { verbose: false }, quitting)).toBe(130);
    expect(term.stdout()).toContain('No AWS credentials were found');
    expect(term.stderr()).toContain('Quit: nothing was backed up.');
    expect(term.stderr()).not.toContain('error');
    expect(await listDir(root)).not.toContain('config');
  });
});

describe('after a failed run', () => {
  /** Answers up to Start, with `out` as destination; `out` becomes a file before Start, so the run fails. */
  const failingStart = (root: string): Scripted[] => [
    'data', false, 'out', ENTER, ENTER, false,
    new Act(() => fs.writeFile(path.join(root, 'out'), 'a file where the folder should be\n')),
    true,
  ];

  it('offers change / save anyway (labelled as failed) / quit; "change" asks again with the previous answers as defaults', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([
      ...failingStart(root),
      'change',
      // Enter keeps each previous answer; the destination (now a file) is refused at its prompt and retyped.
      ENTER, ENTER, ENTER, 'backups2', ENTER, ENTER, ENTER,
      true, true, ...NO_AUTOMATION,
    ]);

    const code = await wizardCommand(term.io, { verbose: false }, prompts);

    expect(code, term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    const menu = prompts.asked.find((q) => q.message === 'What now?')!;
    expect(menu.default).toBe('change');
    expect(menu.choices!.map((c) => [c.value, c.name])).toEqual([
      ['change', expect.stringContaining('change the answers')],
      ['save', 'Save these settings anyway (these settings just failed)'],
      ['quit', 'Quit without saving'],
    ]);
    expect(term.stdout()).toContain('The backup failed');
    // The second round offered what was answered in the first.
    const second = prompts.asked.slice(prompts.asked.indexOf(menu) + 1);
    expect(second.slice(0, 6).map((q) => q.default)).toEqual(['data', false, 'out', 'tar.gz', '', false]);
    expect(prompts.rejected).toEqual([expect.objectContaining({ typed: 'out', problem: `${path.join(root, 'out')} exists and is not a folder.` })]);

    const archive = path.join(root, 'backups2', 'data-20261126-020000.tar.gz');
    const extracted = await tempDir('backup-extract-');
    extractWithSystemTool(archive, extracted);
    expect(await describeTree(path.join(extracted, 'data'))).toEqual(await describeTree(src));
    expect(JSON.parse(await fs.readFile(path.join(root, 'config', 'settings.json'), 'utf8'))).toMatchObject({ destination: 'backups2' });
  });

  it('"quit" saves nothing and exits with the run\'s code; no "Save these answers?" is asked', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([...failingStart(root), 'quit']);

    const code = await wizardCommand(term.io, { verbose: false }, prompts);

    expect(code).not.toBe(0);
    expect(code).not.toBe(130);
    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.some((q) => q.message.startsWith('Save these answers'))).toBe(false);
    expect(await listDir(root)).not.toContain('config');
  });

  it('"save anyway" says the settings just failed, and still asks before replacing a working settings.json (default: keep it)', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    const working = `${JSON.stringify({ sources: ['data'], destination: './backups', format: 'tar.gz' }, null, 2)}\n`;
    await fs.mkdir(path.dirname(settingsFile));
    await fs.writeFile(settingsFile, working);

    // First: keep the working file.
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([...failingStart(root), 'save', ENTER]);
    const code = await wizardCommand(term.io, { verbose: false }, prompts);
    expect(code).not.toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.at(-1)).toMatchObject({ message: 'Replace config/settings.json?', default: 'keep' });
    expect(term.stdout()).toContain('  destination: "./backups" -> "out"');
    expect(await fs.readFile(settingsFile, 'utf8')).toBe(working);

    // Then: save elsewhere; the file says so and the working one is untouched.
    await fs.rm(path.join(root, 'out'));
    const term2 = fakeTerminal(root, true);
    const prompts2 = new ScriptedPrompter([...failingStart(root), 'save', 'elsewhere', ENTER]);
    expect(await wizardCommand(term2.io, { verbose: false }, prompts2)).not.toBe(0);
    expect(prompts2.asked.at(-1)).toMatchObject({ message: 'Save to which file?', default: 'config/settings-2.json' });
    expect(term2.stdout()).toContain('Saved config/settings-2.json, although these settings just failed.\nOnce the problem is fixed, run it without prompts:\n');
    expect(term2.stdout()).toContain('  npx backup run --config config/settings-2.json\n');
    expect(JSON.parse(await fs.readFile(path.join(root, 'config', 'settings-2.json'), 'utf8'))).toMatchObject({ destination: 'out' });
    expect(await fs.readFile(settingsFile, 'utf8')).toBe(working);
  });
});

describe('the save step and the end of the wizard', () => {
  it('the same settings already saved: nothing asked, nothing rewritten', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    await fs.mkdir(path.dirname(settingsFile));
    await fs.writeFile(settingsFile, '{"format": "tar.gz", "destination": "./backups", "sources": ["data"]}');
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(['data', false, ENTER, ENTER, ENTER, false, false, true, ...NO_AUTOMATION]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts)).toBe(0);

    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.some((q) => q.message.startsWith('Replace'))).toBe(false);
    expect(term.stdout()).toContain('config/settings.json already holds these settings; nothing to save.');
    expect(await listDir(path.dirname(settingsFile))).toEqual(['settings.json']);
  });

  it('a settings.json logFile is where the wizard logs (and the saved settings keep it)', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    await fs.mkdir(path.dirname(settingsFile));
    await fs.writeFile(settingsFile, JSON.stringify({ sources: ['data'], format: 'zip', logFile: 'var/wizard.log' }));
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(['data', false, ENTER, 'zip', ENTER, false, true, true, 'overwrite', ...NO_AUTOMATION]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    const log = await fs.readFile(path.join(root, 'var', 'wizard.log'), 'utf8');
    expect(log).toContain('data-20261126-020000.zip');
    expect(await listDir(root)).not.toContain('logs');
    // Only the destination differed (now written out); logFile is not dropped by the save.
    expect(term.stdout()).toContain('  destination: (not set) -> "./backups"');
    expect(term.stdout()).not.toContain('would be dropped');
    expect(JSON.parse(await fs.readFile(settingsFile, 'utf8'))).toMatchObject({ logFile: 'var/wizard.log' });
  });

  it('--log-file wins over settings.json', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.mkdir(path.join(root, 'config'));
    await fs.writeFile(path.join(root, 'config', 'settings.json'), JSON.stringify({ sources: ['data'], logFile: 'var/settings.log' }));
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(['data', false, ENTER, ENTER, ENTER, false, true, false]);

    expect(await wizardCommand(term.io, { verbose: false, logFile: 'flag.log' }, prompts), term.stderr()).toBe(0);

    expect(await fs.readFile(path.join(root, 'flag.log'), 'utf8')).toContain('data-20261126-020000.tar.gz');
    expect(await listDir(root)).not.toContain('var');
  });

  it('the closing hint is separate commands, one a line, each with a comment, never a pipeline', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(['data', false, 'elsewhere', ENTER, ENTER, false, true, false]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts)).toBe(0);

    const out = term.stdout();
    expect(out).not.toMatch(/npx backup \w+[^\n]*\|/);
    const lines = out.split('\n').filter((l) => /^ {2}npx backup (list|verify|restore)/.test(l));
    expect(lines).toEqual([
      expect.stringMatching(/^ {2}npx backup list --dest elsewhere +# the backups, newest first$/),
      expect.stringMatching(/^ {2}npx backup verify --dest elsewhere --all +# re-read each backup, check its SHA-256$/),
      expect.stringMatching(/^ {2}npx backup restore --dest elsewhere --to restored +# pick a backup, restore it into \.\/restored$/),
    ]);
    // Each line, as a shell reads it, is one command that finds these backups.
    // Each fits a 100-column terminal.
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    for (const line of lines) {
      const command = line.replace(/#.*$/, '').trim();
      const words = shellWords(command);
      expect(words.slice(0, 2)).toEqual(['npx', 'backup']);
      if (words[2] === 'list') {
        const listed = fakeTerminal(root, false);
        expect(await main(words.slice(2), listed.io), listed.stderr()).toBe(0);
        expect(listed.stdout()).toContain('data-20261126-020000.tar.gz');
      }
    }
  });
});

describe('settingsDifferences', () => {
  it('says which settings change, which go back to the default, and which the wizard would drop', () => {
    expect(
      settingsDifferences(
        { sources: ['data'], destination: './backups', format: 'zip', name: 'nightly', exclude: ['*.tmp'], s3: { bucket: 'b', prefix: 'h/' } },
        { sources: ['data'], destination: 'out', format: 'zip', s3: { prefix: 'h/', bucket: 'b' } },
      ),
    ).toEqual(['destination: "./backups" -> "out"', 'name: "nightly" -> (not set: the default)', 'exclude: ["*.tmp"] -> (not asked by the wizard: would be dropped)']);
  });
});

// ---------------------------------------------------------------------------
// Issue 10: after the save, the schedule and one alert channel.

describe('after the save: run it automatically, and alerts', () => {
  /** A backup not started, saved to a new config/settings.json, then `after`. */
  const upToSave = (after: Scripted[]): Scripted[] => ['data', false, ENTER, ENTER, ENTER, false, false, true, ...after];
  const settingsOf = async (root: string): Promise<Record<string, unknown>> =>
    JSON.parse(await fs.readFile(path.join(root, 'config', 'settings.json'), 'utf8')) as Record<string, unknown>;

  it('yes, Enter: the suggested nightly schedule (a random minute 01:00-04:59) is saved, described, and the install / daemon commands are printed', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([ENTER, ENTER, 'none']));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.unused).toEqual([]);
    const when = prompts.asked.find((q) => q.message === 'When should it run?')!;
    expect(when.default).toMatch(/^daily 0[1-4]:[0-5]\d$/);
    expect(prompts.asked.find((q) => q.message === 'Run this backup automatically?')!.default).toBe(true);
    const [, hh, mm] = /^daily (\d\d):(\d\d)$/.exec(when.default as string)!;
    const out = term.stdout();
    // NOW is 2026-11-26 02:00: the next run is tonight or tomorrow night.
    const day = Number(hh) * 60 + Number(mm) > 120 ? '26' : '27';
    expect(out).toContain(`  Suggested: ${when.default} (every day at ${hh}:${mm}; next run 2026-11-${day} ${hh}:${mm}:00); a random minute at night`);
    expect(out).toContain(`  Runs every day at ${hh}:${mm}; next run 2026-11-${day} ${hh}:${mm}:00.`);
    expect(await settingsOf(root)).toStrictEqual({ sources: ['data'], destination: './backups', format: 'tar.gz', schedule: when.default });
    expect(await loadSettings(path.join(root, 'config', 'settings.json'))).toMatchObject({ schedule: when.default });
    // Written by the wizard a moment ago: updated in place, no .bak of its own file.
    expect(await listDir(path.join(root, 'config'))).toEqual(['settings.json']);
    expect(out).toContain(`Updated config/settings.json:\n  schedule: (not set) -> "${when.default}"\n`);
    expect(out).toContain('  npx backup schedule install --config config/settings.json\n');
    expect(out).toContain('Or, in a container without cron or systemd, keep this running instead (not both):\n  npx backup daemon --config config/settings.json\n');
    expect(await listDir(root)).not.toContain('.env');
  });

  it('where cron is there, it offers to install the schedule now; yes writes the job\'s block into the crontab and prints it with the undo command', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    // A crontab program of our own, keeping the table in a file (the machine's real crontab is never touched).
    const table = path.join(root, 'crontab.txt');
    const program = path.join(root, 'fake-crontab');
    await fs.writeFile(table, '# a line of the user\'s own\n0 5 * * * echo hello\n');
    await fs.writeFile(program, `#!/bin/sh\nif [ "$1" = "-l" ]; then cat '${table}'; else cat > '${table}'; fi\n`, { mode: 0o755 });
    const term = fakeTerminal(root, true);
    term.io.env = { ...term.io.env, BACKUP_CRONTAB: program };
    const prompts = new ScriptedPrompter(upToSave([ENTER, 'daily 03:10', 'none', true]));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.map((q) => q.message)).toContain('Install the schedule on this machine now (a block in your crontab)?');
    const crontab = await fs.readFile(table, 'utf8');
    expect(crontab.startsWith("# a line of the user's own\n0 5 * * * echo hello\n")).toBe(true);
    expect(crontab).toMatch(/\n10 3 \* \* \* cd .* run --config .*config\/settings\.json >\/dev\/null\n/);
    const out = term.stdout();
    expect(out).toContain('Wrote this block into your crontab');
    // Installed: the daemon is not offered as well (both would run every backup twice).
    expect(out).not.toContain('npx backup daemon');
    expect(out).toMatch(/Undo: .*schedule remove --config .*config\/settings\.json/);
  });

  it('a schedule with seconds is not offered for the crontab (cron runs a line at most once a minute): the daemon is', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const program = path.join(root, 'fake-crontab');
    await fs.writeFile(program, `#!/bin/sh\necho "no crontab for root" >&2\nexit 1\n`, { mode: 0o755 });
    const term = fakeTerminal(root, true);
    term.io.env = { ...term.io.env, BACKUP_CRONTAB: program };
    const prompts = new ScriptedPrompter(upToSave([ENTER, '*/10 * * * * *', 'none']));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.map((q) => q.message).join('\n')).not.toContain('Install the schedule');
    expect(term.stdout()).toContain('has a seconds field, which a crontab cannot hold');
    expect(term.stdout()).toContain('  npx backup daemon --config config/settings.json\n');
  });

  it('an edited schedule: a bad text is refused at the prompt with the schedule error, a good one is saved', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([true, 'every tuesday', 'daily 25:00', '61 * * * *', 'weekly tue 04:15', 'none']));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.rejected.map((r) => [r.typed, r.problem])).toEqual([
      ['every tuesday', expect.stringContaining('"every tuesday" is neither a schedule word nor a cron expression')],
      ['daily 25:00', expect.stringContaining('25:00 is not a time of day')],
      ['61 * * * *', expect.stringContaining('"61 * * * *" is not a valid cron expression')],
    ]);
    expect(prompts.rejected.every((r) => r.message === 'When should it run?')).toBe(true);
    expect((await settingsOf(root)).schedule).toBe('weekly tue 04:15');
    expect(term.stdout()).toContain('  Runs every Tuesday at 04:15; next run 2026-12-01 04:15:00.');
  });

  it('no: nothing scheduled, says how to add it later; an existing schedule is removed (change shown, the old file kept as .bak)', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    await fs.mkdir(path.dirname(settingsFile));
    const before = `${JSON.stringify({ sources: ['data'], destination: './backups', format: 'tar.gz', schedule: 'daily 01:30' })}\n`;
    await fs.writeFile(settingsFile, before);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([false, 'none']));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.unused).toEqual([]);
    // The saved schedule is not one of the backup answers: the file already held these settings.
    expect(term.stdout()).toContain('config/settings.json already holds these settings; nothing to save.');
    expect(prompts.asked.some((q) => q.message === 'When should it run?')).toBe(false);
    expect(await settingsOf(root)).toStrictEqual({ sources: ['data'], destination: './backups', format: 'tar.gz' });
    expect(await fs.readFile(`${settingsFile}.bak`, 'utf8')).toBe(before);
    const out = term.stdout();
    expect(out).toContain('Updated config/settings.json (the previous one is in config/settings.json.bak):\n  schedule: "daily 01:30" -> (not set: the default)\n');
    expect(out).toContain('Not scheduled. To add it later: put "schedule": "daily 02:30" in config/settings.json');
    expect(out).not.toContain('npx backup daemon');
  });

  it('an existing schedule is offered as the default and kept by Enter; nothing rewritten', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const settingsFile = path.join(root, 'config', 'settings.json');
    await fs.mkdir(path.dirname(settingsFile));
    const before = `${JSON.stringify({ sources: ['data'], destination: './backups', format: 'tar.gz', schedule: 'hourly' })}\n`;
    await fs.writeFile(settingsFile, before);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([ENTER, ENTER, ENTER]));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.asked.find((q) => q.message === 'When should it run?')!.default).toBe('hourly');
    expect(prompts.asked.find((q) => q.message.startsWith('Send an alert'))!.default).toBe('none');
    expect(await fs.readFile(settingsFile, 'utf8')).toBe(before);
    expect(await listDir(path.dirname(settingsFile))).toEqual(['settings.json']);
    expect(term.stdout()).toContain('  Now: hourly (every hour at minute 00; next run 2026-11-26 03:00:00).');
  });

  it('Slack: the URL (masked prompt, https only) goes to .env (mode 0600, other lines kept), settings.json names it; the URL is never printed or logged', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const envFile = path.join(root, '.env');
    await fs.writeFile(envFile, 'AWS_REGION=eu-west-1\n# the team\'s keys\nSLACK_WEBHOOK_URL=https://hooks.slack.com/services/OLD\nOTHER="x y"\n', { mode: 0o644 });
    const secret = 'https://127.0.0.1:1/services/T0SECRET/B0SECRET/xoxSECRETtoken';
    // As src/bin.ts does at start: the .env's variables are in the environment.
    vi.stubEnv('SLACK_WEBHOOK_URL', 'https://hooks.slack.com/services/OLD');
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([false, 'slack', 'http://hooks.slack.com/services/T0SECRET/B0SECRET/plain', 'not a url', secret]));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.find((q) => q.message.startsWith('Slack webhook URL'))!.kind).toBe('password');
    expect(prompts.rejected.map((r) => r.problem)).toEqual([
      'The webhook URL must start with https:// (plain http:// only to this machine: 127.0.0.1 or localhost).',
      'That is not a URL; paste the whole webhook URL, starting with https://.',
    ]);
    expect(await fs.readFile(envFile, 'utf8')).toBe(`AWS_REGION=eu-west-1\n# the team's keys\nSLACK_WEBHOOK_URL='${secret}'\nOTHER="x y"\n`);
    expect((await fs.stat(envFile)).mode & 0o777).toBe(0o600);
    const settings = await settingsOf(root);
    expect(settings.notify).toStrictEqual([{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }]);
    expect(JSON.stringify(settings)).not.toContain('SECRET');
    const out = term.stdout();
    expect(out).toContain('Saved SLACK_WEBHOOK_URL in .env (readable by you only; its other lines are kept).');
    expect(out).not.toContain('also set in this shell');
    // The test message: sent, or (no receiver there) the failure and what to run once fixed.
    expect(out).toMatch(/\n {2}slack: (test message sent|failed: .+; fix it later and run npx backup notify test --config config\/settings\.json)\n/);
    const log = await fs.readFile(path.join(root, 'logs', 'backup.log'), 'utf8');
    for (const text of [out, term.stderr(), log]) expect(text).not.toContain('SECRET');
  });

  it('Slack: a SLACK_WEBHOOK_URL set in the environment (not from .env) wins over .env, and the wizard says so', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    vi.stubEnv('SLACK_WEBHOOK_URL', 'https://hooks.slack.com/services/FROM/THE/SHELL');
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([false, 'slack', 'https://127.0.0.1:1/services/T0SECRET/B0SECRET/x']));

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(term.stdout()).toContain("Note: SLACK_WEBHOOK_URL is also set in this shell's environment, which wins over .env: unset it, or set it to the new value.");
    expect(term.stdout()).not.toContain('SECRET');
  });

  it('Slack: a .env that is a link is refused, not written through', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const target = path.join(root, 'elsewhere.txt');
    await fs.writeFile(target, 'untouched\n');
    await fs.symlink(target, path.join(root, '.env'));
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(upToSave([false, 'slack', 'https://hooks.slack.com/services/T0/B0/xyzxyzxyz']));

    expect(await wizardCommand(term.io, { verbose: false }, prompts)).toBe(2);

    expect(term.stderr()).toContain('.env: is not a regular file (a link, a FIFO or a folder)');
    expect(await fs.readFile(target, 'utf8')).toBe('untouched\n');
    expect((await settingsOf(root)).notify).toBeUndefined();
  });

  it('email: server, port, encryption, from, to, user; the password (masked) goes to .env as SMTP_PASSWORD', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter(
      upToSave([false, 'email', 'smtp example', '127.0.0.1', '70000', ENTER, ENTER, 'backup', 'backup@example.com', 'ops@example.com, me@example.org', 'mailer', '', "pa ss#w'rd"]),
    );

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

    expect(prompts.unused).toEqual([]);
    expect(prompts.rejected.map((r) => r.typed)).toEqual(['smtp example', '70000', 'backup', '(hidden)']);
    expect(prompts.asked.find((q) => q.message === 'SMTP port:')!.default).toBe('587');
    expect(prompts.asked.find((q) => q.message === 'Encryption:')!.default).toBe('auto');
    expect((await settingsOf(root)).notify).toStrictEqual([
      { type: 'email', smtp: { host: '127.0.0.1', port: 587, tls: 'auto', user: 'mailer', passwordEnv: 'SMTP_PASSWORD' }, from: 'backup@example.com', to: ['ops@example.com', 'me@example.org'] },
    ]);
    const envText = await fs.readFile(path.join(root, '.env'), 'utf8');
    expect(envText).toBe('SMTP_PASSWORD=`pa ss#w\'rd`\n');
    const dotenv = (await import('dotenv')).default;
    expect(dotenv.parse(envText).SMTP_PASSWORD).toBe("pa ss#w'rd");
    expect(term.stdout()).not.toContain('ss#w');
    expect(term.stdout()).toMatch(/\n {2}email: (test message sent|failed: .+; fix it later and run npx backup notify test --config config\/settings\.json)\n/);
  });

  it('Slack: the test message reaches a real webhook receiver on 127.0.0.1; "test message sent"', async () => {
    const http = await import('node:http');
    const received: Array<{ method?: string; url?: string; body: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, body });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const root = await tempDir();
      await makeRichTree(root);
      const term = fakeTerminal(root, true);
      const url = `http://127.0.0.1:${port}/services/T0SECRET/B0SECRET/token`;
      const prompts = new ScriptedPrompter(upToSave([false, 'slack', url]));

      expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);

      expect(term.stdout()).toContain('  slack: test message sent\n');
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ method: 'POST', url: '/services/T0SECRET/B0SECRET/token' });
      expect(JSON.parse(received[0]!.body)).toMatchObject({ text: expect.any(String) });
      expect(term.stdout()).not.toContain('SECRET');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('the .env writer', () => {
  it.each([
    ['https://hooks.slack.com/services/T/B/x', "K='https://hooks.slack.com/services/T/B/x'"],
    ["it's", 'K=`it\'s`'],
    ["a'b`c", `K="a'b\`c"`],
    ['#not a comment', "K='#not a comment'"],
  ])('quotes %j so dotenv reads it back unchanged', async (value, line) => {
    const { envLine } = await import('../../src/cli/wizard-env-file.js');
    const dotenv = (await import('dotenv')).default;
    expect(envLine('K', value)).toBe(line);
    expect(dotenv.parse(line).K).toBe(value);
  });

  it('a value with a newline or every quote cannot be written; repeats of the key are dropped, other lines kept', async () => {
    const { envLine, setEnvText } = await import('../../src/cli/wizard-env-file.js');
    expect(envLine('K', 'a\nb')).toBeUndefined();
    expect(envLine('K', `'"\``)).toBeUndefined();
    expect(setEnvText('A=1\nexport K=old\nK=older\n\nB=2', { K: 'new' })).toBe("A=1\nK='new'\n\nB=2\n");
    expect(setEnvText('', { K: 'v' })).toBe("K='v'\n");
  });
});
