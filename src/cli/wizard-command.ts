/**
 * `backup` with no command: the wizard. Needs a terminal; asks the
 * questions, shows a summary, runs the backup with a progress bar, then
 * offers to save the answers to config/settings.json and prints the
 * equivalent `backup run` command line. After a failed run it offers to go
 * back and change the answers, to save them anyway (saying they failed), or
 * to quit; it never replaces an existing settings file without showing what
 * changes and keeping the old one as settings.json.bak.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { confirm, input, password, select } from '@inquirer/prompts';
import { ExitCode, UsageError } from '../errors.js';
import { findBzip2 } from '../archive/compressors.js';
import { DEFAULT_SETTINGS_FILE, loadSettings } from '../config/load-settings.js';
import { saveSettings } from '../config/save-settings.js';
import { checkDestination, fileExists, resolveUserPath } from '../config/check-paths.js';
import { expandHome } from '../config/expand-home.js';
import { DEFAULT_DESTINATION, DEFAULT_LOG_FILE, mergeSettings, resolvePaths, toSettingsFile, type EffectiveDestination } from '../config/merge-settings.js';
import { closeStores, openStores } from './stores.js';
import type { Settings } from '../config/schema.js';
import type { AppLogger } from '../log/logger.js';
import { humanText, type CliIO } from './io.js';
import { executeJob, openLogger, reportFailure } from './execute-job.js';
import {
  askBackupQuestions,
  checkNotVirtualFs,
  checkPathText,
  storedFolderNames,
  type Prompter,
  type WizardAnswers,
} from './wizard.js';
import { destinationLabel, kindName, legacyS3, type DestinationProblem, type S3Destination, type WizardDestination } from './wizard-destinations.js';
import { presetTarget } from '../config/s3-presets.js';
import { shellQuote } from './render-result.js';
import { jobLock } from './job-lock.js';
import { DEFAULT_NAME_TEMPLATE, sourceBaseName } from '../archive/naming.js';
import { askAutomation, withChannel } from './wizard-automation.js';
import { chooseBackend } from '../automation/install.js';
import { parseSchedule } from '../automation/schedule.js';
import { setEnvValues } from './wizard-env-file.js';
import { sendNotifications } from '../automation/notify/send.js';
import { jobNameFromFile } from '../automation/job.js';
import type { HistoryRecord, NotifyOutcome } from '../automation/types.js';
import { cliJobRef, recordRun, refileRun, runEnd } from './run-history.js';
import type { NotifyChannel } from '../config/notify-schema.js';

function isPromptExit(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError');
}

export function inquirerPrompter(io: CliIO): Prompter {
  const context = { input: io.stdin, output: io.stdout, signal: io.signal };
  return {
    input: (config) => input(config, context),
    select: (config) => select(config, context),
    confirm: (config) => confirm(config, context),
    password: (config) => password(config, context),
  };
}

/** The S3 flags' values of a destination: a preset's endpoint and region filled in (the flags have no --s3-preset). */
function s3Flags(d: S3Destination): { region?: string; endpoint?: string } {
  const given = { region: d.region ?? undefined, endpoint: d.endpoint ?? undefined, accountId: d.accountId };
  const filled = d.preset ? presetTarget(d.preset, given) : {};
  return { region: given.region ?? ('problem' in filled ? undefined : filled.region), endpoint: given.endpoint ?? ('problem' in filled ? undefined : filled.endpoint) };
}

/**
 * The settings.json content for the answers (paths as typed); `logFile` as
 * given (flag or the old settings), default left out. A local folder and at
 * most one S3 bucket named "s3" are written with the older `destination` /
 * `s3` keys, as before (existing files and the docs stay the same); any
 * other destination makes it the `destinations` list.
 */
export function answersToSettings(answers: WizardAnswers, logFile?: string): Settings {
  const base = toSettingsFile(
    mergeSettings(undefined, {
      sources: answers.sourcesTyped,
      destination: answers.destinationTyped,
      format: answers.format,
      name: answers.name === '' ? undefined : answers.name,
      logFile,
    }),
  );
  const legacy = legacyS3(answers);
  if (legacy === false) {
    const { destination: _destination, ...rest } = base;
    const first: WizardDestination[] = answers.keepLocal ? [{ name: 'local', type: 'local', path: answers.destinationTyped }] : [];
    return { ...rest, destinations: [...first, ...answers.extras].map(({ name, ...options }) => ({ name, ...options })) as Settings['destinations'] };
  }
  if (legacy === undefined) return base;
  const { name: _name, type: _type, bucket, preset, accountId, prefix, region, endpoint, storageClass } = legacy;
  return {
    ...base,
    s3: {
      bucket,
      ...(preset ? { preset } : {}),
      ...(accountId ? { accountId } : {}),
      prefix: prefix ?? '',
      region: region ?? null,
      endpoint: endpoint ?? null,
      storageClass: storageClass ?? 'STANDARD',
      keepLocal: answers.keepLocal,
    },
  };
}

/** Every destination of the answers as a run takes them (each S3 entry's own endpoint and region winning over the environment's). */
export function answersToDestinations(answers: WizardAnswers, io: Pick<CliIO, 'cwd' | 'home' | 'env'>): EffectiveDestination[] {
  const first: WizardDestination[] = answers.keepLocal ? [{ name: 'local', type: 'local', path: answers.destinationTyped }] : [];
  return destinationsOf([...first, ...answers.extras], io);
}

function destinationsOf(list: readonly WizardDestination[], io: Pick<CliIO, 'cwd' | 'home' | 'env'>): EffectiveDestination[] {
  const settings = { destinations: list } as unknown as Settings;
  return resolvePaths(mergeSettings(settings, {}, io.env), io.cwd, io.home).destinations;
}

/** `npx backup run ...` that repeats the answers without prompts; undefined when a destination has no flags (Azure, SFTP, ...). */
export function equivalentCommand(answers: WizardAnswers): string | undefined {
  const s3 = legacyS3(answers);
  if (s3 === false) return undefined;
  const words = ['npx', 'backup', 'run', '--source', ...answers.sourcesTyped, '--dest', answers.destinationTyped, '--format', answers.format];
  if (answers.name !== '') words.push('--name', answers.name);
  if (s3) {
    const { region, endpoint } = s3Flags(s3);
    words.push('--s3-bucket', s3.bucket);
    if (s3.prefix) words.push('--s3-prefix', s3.prefix);
    if (region) words.push('--s3-region', region);
    if (endpoint) words.push('--s3-endpoint', endpoint);
    if (s3.storageClass && s3.storageClass !== 'STANDARD') words.push('--s3-storage-class', s3.storageClass);
    if (!answers.keepLocal) words.push('--no-local');
  }
  return words.map(shellQuote).join(' ');
}

/**
 * How to see, check and restore the backups just made: separate commands,
 * one a line, each with a comment (never `a | b | c`, which reads as a
 * pipeline). `where` are the flags that find this job's destination.
 */
export function nextStepLines(where: string[]): string[] {
  const flags = where.map(shellQuote).join(' ');
  const rows: Array<[string, string, string]> = [
    ['list', '', 'the backups, newest first'],
    ['verify', '--all', 're-read each backup, check its SHA-256'],
    ['restore', '--to restored', 'pick a backup, restore it into ./restored'],
  ];
  const commands = rows.map(([command, options]) => ['npx backup', command, flags, options].filter((w) => w !== '').join(' '));
  const width = Math.max(...commands.map((c) => c.length));
  return ['See, check and restore your backups:', ...commands.map((c, i) => `  ${c.padEnd(width)}   # ${rows[i]![2]}`)];
}

/**
 * Opens the destination as the run will (the same merge of its settings
 * entry, the typed secrets in the environment) and runs the store's own
 * check: reachable, credentials, bucket/container/folder, write permission.
 * A local folder is checked without being created (that waits for the run).
 */
export async function checkWizardDestination(io: CliIO, destination: WizardDestination, secrets: Record<string, string>): Promise<DestinationProblem | undefined> {
  const checkIo: CliIO = { ...io, env: { ...io.env, ...secrets } };
  try {
    const stores = await openStores(checkIo, destinationsOf([destination], checkIo));
    for (const store of stores) await store.check({ dryRun: destination.type === 'local', signal: io.signal });
    return undefined;
  } catch (error) {
    if (io.signal.aborted) throw error;
    return {
      message: error instanceof Error ? error.message : String(error),
      code: (error as { code?: unknown }).code === undefined ? undefined : String((error as { code?: unknown }).code),
    };
  } finally {
    await closeStores(checkIo);
  }
}

/** JSON with sorted keys, for comparing settings whatever the key order. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The settings the wizard's answers decide (a missing one means the default). */
const WIZARD_KEYS = new Set(['sources', 'destination', 'destinations', 'format', 'name', 's3', 'logFile', 'schedule', 'notify']);

/** Settings the backup questions do not ask but the later steps do (or that name the job): kept when the file is replaced. */
const CARRIED_KEYS = ['job', 'schedule', 'notify'] as const;

/** One line per top-level setting that differs: `key: old -> new`. */
export function settingsDifferences(old: Record<string, unknown>, next: Record<string, unknown>): string[] {
  const short = (value: unknown): string => {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  };
  const keys = [...new Set([...Object.keys(old), ...Object.keys(next)])];
  return keys
    .filter((k) => stableJson(old[k]) !== stableJson(next[k]))
    .map((k) =>
      k in next
        ? `${k}: ${k in old ? short(old[k]) : '(not set)'} -> ${short(next[k])}`
        : (k === 'destination' || k === 's3') && 'destinations' in next
          ? `${k}: ${short(old[k])} -> (now in "destinations")`
          : (k === 'destinations') && ('destination' in next || 's3' in next)
            ? `${k}: ${short(old[k])} -> (now "destination"${'s3' in next ? ' and "s3"' : ''})`
            : WIZARD_KEYS.has(k)
              ? `${k}: ${short(old[k])} -> (not set: the default)`
          : `${k}: ${short(old[k])} -> (not asked by the wizard: would be dropped)`,
    );
}

type SaveChoice = 'keep' | 'overwrite' | 'elsewhere';

/** Copies `file` to `file.bak` through a fresh temporary name (never writing through a planted link), then renames. */
async function keepBackupCopy(file: string): Promise<string> {
  const bak = `${file}.bak`;
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.bak.tmp`);
  try {
    await fs.copyFile(file, temp, fs.constants.COPYFILE_EXCL);
    await fs.rename(temp, bak);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  return bak;
}

interface SaveStep {
  io: CliIO;
  prompts: Prompter;
  logger: AppLogger;
  say: (line: string) => void;
  settings: Settings;
  /** The run with these answers failed: the save is labelled so. */
  failed: boolean;
}

/** Where the settings are (absolute) and whether this step wrote them; undefined when nothing was saved. */
async function saveStep(step: SaveStep): Promise<{ file: string; wrote: boolean } | undefined> {
  const { io, prompts, say, failed } = step;
  let settings = step.settings;
  const settingsFile = path.resolve(io.cwd, DEFAULT_SETTINGS_FILE);
  const shown = (file: string): string => {
    const rel = path.relative(io.cwd, file);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
  };
  let target = settingsFile;

  if (await fileExists(settingsFile)) {
    let old: Record<string, unknown> | undefined;
    let unreadable: string | undefined;
    try {
      old = (await loadSettings(settingsFile)) as Record<string, unknown>;
    } catch (error) {
      unreadable = error instanceof Error ? error.message : String(error);
    }
    if (old) {
      // Asked again after the save (schedule, alerts) or not asked at all (job): not dropped by a replace.
      const carried = Object.fromEntries(CARRIED_KEYS.filter((k) => old[k] !== undefined).map((k) => [k, old[k]]));
      settings = { ...settings, ...carried };
    }
    const differences = old ? settingsDifferences(old, settings as Record<string, unknown>) : [];
    if (old && differences.length === 0) {
      say(`${shown(settingsFile)} already holds these settings; nothing to save.`);
      say('');
      return { file: settingsFile, wrote: false };
    }
    say('');
    if (old) {
      say(`${shown(settingsFile)} already exists, with other settings:`);
      for (const line of differences) say(`  ${line}`);
    } else {
      say(`${shown(settingsFile)} already exists but cannot be used as settings: ${unreadable}`);
    }
    const choice = await prompts.select<SaveChoice>({
      message: `Replace ${shown(settingsFile)}?`,
      default: 'keep',
      choices: [
        { name: `No, keep it as it is`, value: 'keep' },
        { name: `Yes, overwrite it (the old one is kept as ${path.basename(settingsFile)}.bak)`, value: 'overwrite' },
        { name: 'Save to another file', value: 'elsewhere' },
      ],
    });
    if (choice === 'keep') {
      say(`Kept the existing ${shown(settingsFile)}.`);
      say('');
      return undefined;
    }
    if (choice === 'overwrite') {
      const bak = await keepBackupCopy(settingsFile);
      step.logger.info(`previous settings kept as ${bak}`);
      say(`The previous ${shown(settingsFile)} is in ${shown(bak)}.`);
    } else {
      let free = 2;
      while (await fileExists(path.resolve(io.cwd, 'config', `settings-${free}.json`))) free++;
      const typed = await prompts.input({
        message: 'Save to which file?',
        default: path.join('config', `settings-${free}.json`),
        validate: async (value) => {
          const problem = checkPathText(value, 'a file name');
          if (problem) return problem;
          const abs = resolveUserPath(value, io.cwd, io.home);
          if (await fileExists(abs)) return `${abs} exists; choose a new name.`;
          return (await checkNotVirtualFs(abs)) ?? (await checkDestination(path.dirname(abs), io.cwd, io.home)) ?? true;
        },
      });
      target = resolveUserPath(typed, io.cwd, io.home);
    }
  }

  await saveSettings(target, settings);
  step.logger.info(`settings saved to ${target}${failed ? ' (their last run failed)' : ''}`);
  if (failed) {
    say(`Saved ${shown(target)}, although these settings just failed.`);
    say('Once the problem is fixed, run it without prompts:');
  } else say(`Saved ${shown(target)}. Run it without prompts (cron, systemd):`);
  say(`  npx backup run --config ${shellQuote(shown(target))}`);
  say('');
  return { file: target, wrote: true };
}

/** `file` relative to the working folder when it is inside it. */
function shownPath(io: CliIO, file: string): string {
  const rel = path.relative(io.cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

interface AutomationStep {
  io: CliIO;
  prompts: Prompter;
  logger: AppLogger;
  say: (line: string) => void;
  /** The saved settings file. */
  file: string;
  /** The wizard wrote it a moment ago (its .bak, if any, is the user's older file: not replaced). */
  wrote: boolean;
}

/**
 * After the save: whether and when the job runs by itself, and one alert
 * channel; the secret goes to ./.env, the settings file gets `schedule` and
 * `notify` (the change shown, the file replaced atomically, the previous one
 * kept as .bak unless the wizard just wrote it); then the command that makes
 * the schedule real and a test message on the new channel.
 */
async function automationStep(step: AutomationStep): Promise<void> {
  const { io, prompts, say, file } = step;
  const shown = shownPath(io, file);
  const quoted = shellQuote(shown);
  const current = await loadSettings(file);
  const answers = await askAutomation(prompts, { now: io.now(), say }, current);

  const next: Settings = { ...current };
  if (answers.schedule !== undefined) next.schedule = answers.schedule;
  else delete next.schedule;
  if (answers.channel) next.notify = withChannel(current.notify, answers.channel);

  say('');
  const secretNames = Object.keys(answers.secrets);
  if (secretNames.length > 0) {
    const envFile = path.join(io.cwd, '.env');
    const before = await setEnvValues(envFile, answers.secrets);
    step.logger.info(`${secretNames.join(', ')} set in ${envFile}`);
    say(`Saved ${secretNames.join(' and ')} in .env (readable by you only; its other lines are kept). settings.json names it, never holds it.`);
    for (const name of secretNames) {
      // This process's environment holds the old .env too (loaded at start): only a value from elsewhere wins over the file.
      if (io.env[name] !== undefined && io.env[name] !== answers.secrets[name] && io.env[name] !== before[name]) {
        say(`Note: ${name} is also set in this shell's environment, which wins over .env: unset it, or set it to the new value.`);
      }
    }
  }
  const differences = settingsDifferences(current as Record<string, unknown>, next as Record<string, unknown>);
  if (differences.length > 0) {
    if (!step.wrote) {
      const bak = await keepBackupCopy(file);
      step.logger.info(`previous settings kept as ${bak}`);
    }
    await saveSettings(file, next);
    step.logger.info(`settings saved to ${file} (${differences.join('; ')})`);
    say(`Updated ${shown}${step.wrote ? '' : ` (the previous one is in ${shown}.bak)`}:`);
    for (const line of differences) say(`  ${line}`);
  }

  if (answers.schedule !== undefined) {
    // systemd when it runs here, else cron when `crontab` is there; neither: the daemon.
    let backend: 'systemd' | 'cron' | undefined;
    try {
      backend = chooseBackend({}, { env: io.env, home: io.home });
    } catch {
      backend = undefined;
    }
    // A schedule with seconds cannot go in a crontab (a line runs at most once a minute).
    if (backend === 'cron' && parseSchedule(answers.schedule).hasSeconds) {
      say(`"${answers.schedule}" has a seconds field, which a crontab cannot hold: run it with systemd (npx backup schedule install --systemd) or keep the daemon running:`);
      say(`  npx backup daemon --config ${quoted}`);
      backend = undefined;
    } else {
      const how = backend === 'systemd' ? (typeof process.getuid === 'function' && process.getuid() !== 0 ? 'a systemd user timer' : 'a systemd timer') : 'a block in your crontab';
      let installed = false;
      if (backend && (await prompts.confirm({ message: `Install the schedule on this machine now (${how})?`, default: true }))) {
        // The same command a person would type: it prints what it wrote, where, and how to undo it.
        const { scheduleInstallCommand } = await import('./schedule-command.js');
        // System units need root; anyone else gets user units (~/.config/systemd/user).
        const user = backend === 'systemd' && typeof process.getuid === 'function' && process.getuid() !== 0;
        installed = (await scheduleInstallCommand(io, { config: file, ...(user ? { user: true } : {}) })) === ExitCode.ok;
        if (!installed) say(`The schedule was not installed (see above). Fix what it says, then: npx backup schedule install --config ${quoted}`);
      } else {
        say(`Make it run at these times on this machine (${backend ? how : 'a systemd timer, else a crontab entry'}):`);
        say(`  npx backup schedule install --config ${quoted}`);
      }
      // Both would run every backup twice (one of them refused by the job's lock).
      if (!installed) {
        say('Or, in a container without cron or systemd, keep this running instead (not both):');
        say(`  npx backup daemon --config ${quoted}`);
      }
    }
  } else {
    say(`Not scheduled. To add it later: put "schedule": "daily 02:30" in ${shown} (or run npx backup again and answer yes),`);
    say(`then: npx backup schedule install --config ${quoted}`);
  }

  if (answers.channel) {
    const channel = answers.channel;
    const name = channel.name ?? channel.type;
    say('');
    say(`Sending a test message (${name})...`);
    let outcomes: NotifyOutcome[];
    try {
      outcomes = await sendNotifications(
        [channel],
        { event: 'test', job: current.job ?? jobNameFromFile(file), host: io.host, at: io.now() },
        { env: { ...io.env, ...answers.secrets }, logger: step.logger, signal: io.signal },
      );
    } catch (error) {
      outcomes = [{ channel: name, type: channel.type, event: 'test', ok: false, error: error instanceof Error ? error.message : String(error) }];
    }
    for (const outcome of outcomes) {
      if (outcome.ok) say(`  ${outcome.channel}: test message sent`);
      else {
        step.logger.fileOnly.warn(`test message on ${outcome.channel} failed: ${outcome.error ?? 'unknown error'}`);
        say(`  ${outcome.channel}: failed: ${outcome.error ?? 'unknown error'}; fix it later and run npx backup notify test --config ${quoted}`);
      }
    }
  }
  say('');
}

type AfterFailure = 'change' | 'save' | 'quit';

/** "The same backup as one command line", or why there is none (a destination the flags cannot name). */
function sayCommandLine(say: (line: string) => void, answers: WizardAnswers): void {
  const command = equivalentCommand(answers);
  if (command) {
    say('The same backup as one command line:');
    say(`  ${command}`);
  } else {
    const kinds = [...new Set(answers.extras.filter((d) => d.type !== 'local' && d.type !== 's3').map((d) => kindName(d.type)))];
    say(`No single command line repeats it (${kinds.length > 0 ? `${kinds.join(' and ')} destinations have` : 'more than one folder or bucket has'} no flags): run it with --config.`);
  }
}

/** The destinations' secrets (an Azure key typed in the wizard) into ./.env beside the saved settings, which name them only. */
async function saveSecrets(io: CliIO, logger: AppLogger, say: (line: string) => void, secrets: Record<string, string>): Promise<void> {
  const names = Object.keys(secrets);
  if (names.length === 0) return;
  const envFile = path.join(io.cwd, '.env');
  await setEnvValues(envFile, secrets);
  logger.info(`${names.join(', ')} set in ${envFile}`);
  say(`Saved ${names.join(' and ')} in .env (readable by you only; its other lines are kept). settings.json never holds it.`);
  say('');
}

export async function wizardCommand(
  io: CliIO,
  options: { verbose: boolean; logFile?: string },
  prompts: Prompter = inquirerPrompter(io),
): Promise<number> {
  const output = { json: false, verbose: options.verbose };
  if (io.stdin.isTTY !== true) {
    return reportFailure(
      io,
      new UsageError(
        'The wizard needs a terminal, and standard input is not one. For cron, scripts and CI use `npx backup run --source PATH --dest DIR [--format tar.gz]` or `npx backup run --config config/settings.json`.',
        { code: 'NO_TTY' },
      ),
      undefined,
      output,
    );
  }
  const say = (line: string): void => {
    io.stdout.write(humanText(`${line}\n`));
  };
  // The log file as `backup run` finds it: --log-file, else settings.json's logFile, else logs/backup.log.
  const settingsFile = path.resolve(io.cwd, DEFAULT_SETTINGS_FILE);
  let settingsLogFile: string | undefined;
  let settingsNote: string | undefined;
  let settingsNotify: readonly NotifyChannel[] = [];
  if (options.logFile === undefined && (await fileExists(settingsFile))) {
    try {
      const loaded = await loadSettings(settingsFile);
      settingsLogFile = loaded.logFile;
      settingsNotify = loaded.notify ?? [];
    } catch (error) {
      settingsNote = `Note: ${error instanceof Error ? error.message : String(error)}; logging to ${DEFAULT_LOG_FILE}.`;
    }
  }
  const logFileTyped = options.logFile ?? settingsLogFile;
  const logger = openLogger(io, path.resolve(io.cwd, expandHome(logFileTyped ?? DEFAULT_LOG_FILE, io.home)), output);
  try {
    if (logger.fileRefused) throw logger.fileRefused;
    say('backup: answer a few questions; Ctrl-C quits at any time.\n');
    if (settingsNote) say(`${settingsNote}\n`);
    const context = {
      cwd: io.cwd,
      home: io.home,
      // Refreshed for each round of questions (the name preview shows the time of asking).
      now: io.now(),
      host: io.host,
      bzip2Available: findBzip2(io.env.PATH) !== undefined,
      defaultRegion: io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION || undefined,
      defaultEndpoint: io.env.AWS_ENDPOINT_URL_S3 || io.env.AWS_ENDPOINT_URL || undefined,
      env: io.env,
      checkDestination: (destination: WizardDestination, secrets: Record<string, string>) => checkWizardDestination(io, destination, secrets),
      say,
    };

    let previous: WizardAnswers | undefined;
    let answers: WizardAnswers;
    let exitCode: number = ExitCode.ok;
    let ran = false;
    /** The end record of the wizard's backup, filed again under the settings file's job once saved. */
    let wizardRun: HistoryRecord | undefined;
    for (;;) {
      answers = await askBackupQuestions(prompts, { ...context, now: io.now() }, previous);

      say('');
      say('Summary');
      const stored = storedFolderNames(answers.sources);
      const sameName = (i: number): boolean => stored[i] !== sourceBaseName(answers.sources[i]!);
      answers.sources.forEach((source, i) =>
        say(`  ${i === 0 ? 'back up:  ' : '          '}   ${source}${sameName(i) ? `  (stored as ${stored[i]}/)` : ''}`),
      );
      const current = answers;
      const destinations = answersToDestinations(current, io);
      if (current.extras.length === 0) say(`  into:        ${current.destination}`);
      else {
        const rows = [
          ...(current.keepLocal ? [{ name: 'local', kind: 'folder', label: current.destination }] : []),
          ...current.extras.map((d) => ({ name: d.name, kind: kindName(d.type), label: destinationLabel(d, io) })),
        ];
        const nameWidth = Math.max(...rows.map((r) => r.name.length));
        const kindWidth = Math.max(...rows.map((r) => r.kind.length));
        rows.forEach((r, i) => say(`  ${i === 0 ? 'into:       ' : '            '} ${r.name.padEnd(nameWidth)}  ${r.kind.padEnd(kindWidth)}  ${r.label}`));
      }
      say(`  format:      ${current.format}`);
      say(`  name:        ${current.name === '' ? `(default) ${DEFAULT_NAME_TEMPLATE}` : current.name}`);
      say('');

      if (!(await prompts.confirm({ message: 'Start the backup now?', default: true }))) break;
      const localFolder = destinations.find((d) => d.type === 'local');
      // The same lock as `backup run`: a wizard run and the nightly cron job of the same sources never overlap.
      const lock = jobLock(io, logger, {
        job: { sources: current.sources, nameTemplate: current.name.trim() || DEFAULT_NAME_TEMPLATE },
        localDestination: localFolder?.type === 'local' ? localFolder.path : undefined,
        logFile: logger.file ?? path.resolve(io.cwd, DEFAULT_LOG_FILE),
        command: 'backup (wizard)',
      });
      // Recorded in the run history as the job of these sources (command 'wizard'), notified on the saved settings' channels.
      const logFile = logger.file ?? path.resolve(io.cwd, DEFAULT_LOG_FILE);
      const historyJob = cliJobRef(io, { sources: answers.sources, nameTemplate: answers.name, logFile });
      const report = await recordRun(io, logger, historyJob, 'wizard', settingsNotify);
      // The secrets typed for the destinations (an Azure key) are in this run's environment; .env gets them only on save.
      const runIo: CliIO = Object.keys(current.secrets).length === 0 ? io : { ...io, env: { ...io.env, ...current.secrets } };
      const stores = await openStores(runIo, destinations);
      const run = await executeJob(
        io,
        {
          sources: answers.sources,
          stores,
          format: answers.format,
          name: answers.name,
          exclude: [],
          strict: false,
          dryRun: false,
          logFile: logger.file,
        },
        logger,
        output,
        { beforeWrite: () => lock.acquire() },
      ).finally(async () => {
        await lock.release();
        await closeStores(runIo);
      });
      wizardRun = await report?.finish(runEnd(io, run.exitCode, run.result, run.error));
      exitCode = run.exitCode;
      ran = true;
      if (exitCode === ExitCode.cancelled) return exitCode;
      if (exitCode === ExitCode.ok || exitCode === ExitCode.partial) break;

      // Failed (1: a destination did not get the backup; 2: an answer the run refused).
      say('');
      say('The backup failed (the reason is above).');
      const next = await prompts.select<AfterFailure>({
        message: 'What now?',
        default: 'change',
        choices: [
          { name: 'Go back and change the answers (Enter keeps each previous answer)', value: 'change' },
          { name: 'Save these settings anyway (these settings just failed)', value: 'save' },
          { name: 'Quit without saving', value: 'quit' },
        ],
      });
      if (next === 'quit') return exitCode;
      if (next === 'save') {
        const save = await saveStep({ io, prompts, logger, say, settings: answersToSettings(answers, logFileTyped), failed: true });
        if (save) await saveSecrets(io, logger, say, answers.secrets);
        sayCommandLine(say, answers);
        return exitCode;
      }
      previous = answers;
      say('');
    }

    let saved: string | undefined;
    if (await prompts.confirm({ message: `Save these answers to ${DEFAULT_SETTINGS_FILE} for unattended runs?`, default: true })) {
      const save = await saveStep({ io, prompts, logger, say, settings: answersToSettings(answers, logFileTyped), failed: false });
      saved = save?.file;
      if (save) await saveSecrets(io, logger, say, answers.secrets);
      if (save && wizardRun) await refileRun(io, logger, wizardRun, { settingsFile: save.file, logFile: logger.file ?? path.resolve(io.cwd, DEFAULT_LOG_FILE) });
      if (save) await automationStep({ io, prompts, logger, say, file: save.file, wrote: save.wrote });
    }
    sayCommandLine(say, answers);
    if (ran && (exitCode === ExitCode.ok || exitCode === ExitCode.partial)) {
      // The flags that lead list/verify/restore to this job's backups.
      let where: string[] | undefined = [];
      if (saved !== undefined && saved !== settingsFile) where = ['--config', path.relative(io.cwd, saved) || saved];
      else if (saved === undefined) {
        const defaultWhere = !(await fileExists(settingsFile)) && answers.destination === path.resolve(io.cwd, DEFAULT_DESTINATION);
        const s3 = legacyS3(answers);
        if (s3 && !answers.keepLocal) {
          const { region, endpoint } = s3Flags(s3);
          where = ['--s3-bucket', s3.bucket];
          if (s3.prefix) where.push('--s3-prefix', s3.prefix);
          if (region) where.push('--s3-region', region);
          if (endpoint) where.push('--s3-endpoint', endpoint);
        } else if (!answers.keepLocal) where = undefined;
        else if (!defaultWhere) where = ['--dest', answers.destinationTyped];
      }
      say('');
      // Destinations without flags (Azure, SFTP ...) and no saved file: list/verify/restore cannot be pointed at them.
      if (where) for (const line of nextStepLines(where)) say(line);
      else say('Save the settings (run npx backup again) to list, verify and restore these backups with --config.');
    }
    return exitCode;
  } catch (error) {
    if (isPromptExit(error)) {
      logger.info('wizard cancelled');
      return ExitCode.cancelled;
    }
    return reportFailure(io, error, logger, output);
  } finally {
    await logger.close();
  }
}
