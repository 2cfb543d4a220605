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
import { humanText, type CliIO } from './io.js';
import { executeJob, openLogger, reportFailure } from './execute-job.js';
import { askBackupQuestions, type Prompter, type S3Answers, type WizardAnswers } from './wizard.js';
import type { S3Target } from '../storage/s3.js';
import { shellQuote } from './render-result.js';
import { jobLock } from './job-lock.js';
import { DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';

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
      s3Bucket: answers.s3?.bucket,
      s3Prefix: answers.s3?.prefix,
      s3Region: answers.s3?.region,
      s3Endpoint: answers.s3?.endpoint,
      s3StorageClass: answers.s3?.storageClass,
      keepLocal: answers.s3?.keepLocal,
    }),
  );
}

/** `npx backup run ...` that repeats the answers without prompts. */
export function equivalentCommand(answers: WizardAnswers): string {
  const words = ['npx', 'backup', 'run', '--source', ...answers.sourcesTyped, '--dest', answers.destinationTyped, '--format', answers.format];
  if (answers.name !== '') words.push('--name', answers.name);
  const s3 = answers.s3;
  if (s3) {
    words.push('--s3-bucket', s3.bucket);
    if (s3.prefix) words.push('--s3-prefix', s3.prefix);
    if (s3.region) words.push('--s3-region', s3.region);
    if (s3.endpoint) words.push('--s3-endpoint', s3.endpoint);
    if (s3.storageClass !== 'STANDARD') words.push('--s3-storage-class', s3.storageClass);
    if (!s3.keepLocal) words.push('--no-local');
  }
  return words.map(shellQuote).join(' ');
}

function s3Target(s3: S3Answers): S3Target {
  return { bucket: s3.bucket, prefix: s3.prefix, region: s3.region, endpoint: s3.endpoint, storageClass: s3.storageClass };
}

/** HeadBucket with the answers; the SDK is loaded only when S3 is chosen. */
async function checkS3Access(s3: S3Answers): Promise<string | undefined> {
  const { checkBucket, createS3Client } = await import('../storage/s3.js');
  const target = s3Target(s3);
  const client = createS3Client({ ...target, maxAttempts: 2 });
  try {
    await checkBucket(client, target);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.destroy();
  }
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
    io.stdout.write(humanText(`${line}\n`));
  };
  const logger = openLogger(io, path.resolve(io.cwd, DEFAULT_LOG_FILE), output);
  try {
    if (logger.fileRefused) throw logger.fileRefused;
    say('backup: answer a few questions; Ctrl-C quits at any time.\n');
    const answers = await askBackupQuestions(prompts, {
      cwd: io.cwd,
      home: io.home,
      now: io.now(),
      host: io.host,
      bzip2Available: findBzip2(io.env.PATH) !== undefined,
      defaultRegion: io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION || undefined,
      defaultEndpoint: io.env.AWS_ENDPOINT_URL_S3 || io.env.AWS_ENDPOINT_URL || undefined,
      checkS3: (s3) => checkS3Access(s3),
      say,
    });

    say('');
    say('Summary');
    say(`  back up:     ${answers.sources.join(', ')}`);
    say(`  into:        ${answers.destination}`);
    say(`  format:      ${answers.format}`);
    say(`  name:        ${answers.name === '' ? '(default) {source}-{date}-{time}' : answers.name}`);
    say(`  S3 upload:   ${answers.s3 ? `s3://${answers.s3.bucket}/${answers.s3.prefix} (${answers.s3.storageClass}${answers.s3.keepLocal ? '' : ', no local copy'})` : 'no'}`);
    say('');

    let exitCode: number = ExitCode.ok;
    if (await prompts.confirm({ message: 'Start the backup now?', default: true })) {
      const destination = answers.s3 && !answers.s3.keepLocal ? undefined : answers.destination;
      // The same lock as `backup run`: a wizard run and the nightly cron job of the same sources never overlap.
      const lock = jobLock(io, logger, {
        job: { sources: answers.sources, nameTemplate: answers.name.trim() || DEFAULT_NAME_TEMPLATE },
        localDestination: destination,
        logFile: logger.file ?? path.resolve(io.cwd, DEFAULT_LOG_FILE),
        command: 'backup (wizard)',
      });
      const run = await executeJob(
        io,
        {
          sources: answers.sources,
          destination,
          s3: answers.s3 && s3Target(answers.s3),
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
      ).finally(() => lock.release());
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
    say('See, check and restore your backups: npx backup list | npx backup verify --all | npx backup restore');
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
