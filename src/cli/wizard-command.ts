/**
 * `backup` with no command: the wizard. Needs a terminal; asks the
 * questions, shows a summary, runs the backup with a progress bar, then
 * offers to save the answers to config/settings.json and prints the
 * equivalent `backup run` command line.
 */
import path from 'node:path';
import { confirm, input, select } from '@inquirer/prompts';
import { ExitCode, UsageError } from '../errors.js';
import { findBzip2 } from '../archive/compressors.js';
import { DEFAULT_SETTINGS_FILE } from '../config/load-settings.js';
import { saveSettings } from '../config/save-settings.js';
import { fileExists } from '../config/check-paths.js';
import { DEFAULT_LOG_FILE, mergeSettings, toSettingsFile } from '../config/merge-settings.js';
import type { Settings } from '../config/schema.js';
import type { CliIO } from './io.js';
import { executeJob, openLogger, reportFailure } from './execute-job.js';
import { askBackupQuestions, type Prompter, type WizardAnswers } from './wizard.js';
import { shellQuote } from './render-result.js';

function isPromptExit(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError');
}

export function inquirerPrompter(io: CliIO): Prompter {
  const context = { input: io.stdin, output: io.stdout, signal: io.signal };
  return {
    input: (config) => input(config, context),
    select: (config) => select(config, context),
    confirm: (config) => confirm(config, context),
  };
}

/** The settings.json content for the answers (paths as typed). */
export function answersToSettings(answers: WizardAnswers): Settings {
  return toSettingsFile(
    mergeSettings(undefined, {
      sources: answers.sourcesTyped,
      destination: answers.destinationTyped,
      format: answers.format,
      name: answers.name === '' ? undefined : answers.name,
    }),
  );
}

/** `npx backup run ...` that repeats the answers without prompts. */
export function equivalentCommand(answers: WizardAnswers): string {
  const words = ['npx', 'backup', 'run', '--source', ...answers.sourcesTyped, '--dest', answers.destinationTyped, '--format', answers.format];
  if (answers.name !== '') words.push('--name', answers.name);
  return words.map(shellQuote).join(' ');
}

export async function wizardCommand(
  io: CliIO,
  options: { verbose: boolean },
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
    io.stdout.write(`${line}\n`);
  };
  const logger = openLogger(io, path.resolve(io.cwd, DEFAULT_LOG_FILE), output);
  try {
    say('backup: answer a few questions; Ctrl-C quits at any time.\n');
    const answers = await askBackupQuestions(prompts, {
      cwd: io.cwd,
      home: io.home,
      now: io.now(),
      host: io.host,
      bzip2Available: findBzip2(io.env.PATH) !== undefined,
      say,
    });

    say('');
    say('Summary');
    say(`  back up:     ${answers.sources.join(', ')}`);
    say(`  into:        ${answers.destination}`);
    say(`  format:      ${answers.format}`);
    say(`  name:        ${answers.name === '' ? '(default) {source}-{date}-{time}' : answers.name}`);
    say(`  S3 upload:   ${answers.s3 ? 'yes' : 'no'}`);
    say('');

    let exitCode: number = ExitCode.ok;
    if (await prompts.confirm({ message: 'Start the backup now?', default: true })) {
      const run = await executeJob(
        io,
        {
          sources: answers.sources,
          destination: answers.destination,
          format: answers.format,
          name: answers.name,
          exclude: [],
          strict: false,
          dryRun: false,
          logFile: logger.file,
        },
        logger,
        output,
      );
      exitCode = run.exitCode;
      if (exitCode === ExitCode.cancelled) return exitCode;
    }

    const settingsFile = path.resolve(io.cwd, DEFAULT_SETTINGS_FILE);
    const shown = path.relative(io.cwd, settingsFile);
    if (await prompts.confirm({ message: `Save these answers to ${shown} for unattended runs?`, default: true })) {
      const exists = await fileExists(settingsFile);
      if (!exists || (await prompts.confirm({ message: `${shown} already exists. Replace it?`, default: false }))) {
        await saveSettings(settingsFile, answersToSettings(answers));
        logger.info(`settings saved to ${settingsFile}`);
        say(`Saved ${shown}. Run it without prompts (cron, systemd):`);
        say(`  npx backup run --config ${shellQuote(shown)}`);
      } else {
        say(`Kept the existing ${shown}.`);
      }
    }
    say('The same backup as one command line:');
    say(`  ${equivalentCommand(answers)}`);
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
