/**
 * The command-line contract (DESIGN.md) as a commander program. Commands are
 * loaded lazily so `backup --help` stays fast. `main` returns an exit code;
 * it never exits the process (src/bin.ts does).
 */
import { Command, CommanderError, Option } from 'commander';
import { toolVersion } from '../version.js';
import { ExitCode, UsageError } from '../errors.js';
import type { CliIO } from './io.js';
import type { RunFlags } from './run-command.js';

function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('backup')
    .description(
      'Back up files and folders into zip / tar.gz / tar.bz2 archives, with a .sha256 and a manifest beside each, locally and/or to S3.',
    )
    .version(toolVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });

  program
    .command('wizard', { isDefault: true })
    .description('ask for source, destination, format and name, run the backup, offer to save the settings (default command)')
    .option('--verbose', 'show details and stack traces')
    // `backup list` must say "unknown command", not "too many arguments for 'wizard'".
    .allowExcessArguments(true)
    .action(async (flags: { verbose?: boolean }, command: Command) => {
      const [unknown] = command.args;
      if (unknown !== undefined) {
        io.stderr.write(`error: unknown command '${unknown}' (commands: run, list, verify, restore, prune, wizard)\n(add --help for usage)\n`);
        setExit(ExitCode.usage);
        return;
      }
      const { wizardCommand } = await import('./wizard-command.js');
      setExit(await wizardCommand(io, { verbose: flags.verbose === true }));
    });

  program
    .command('run')
    .description('run one backup with no prompts, from flags and/or a settings file (for cron and scripts)')
    .option('-c, --config <file>', 'settings file (default: config/settings.json when present)')
    .option('-s, --source <path...>', 'files or folders to back up (one or more)')
    .option('-d, --dest <dir>', 'local destination folder (default: ./backups)')
    .option('-f, --format <fmt>', 'zip | tar.gz | tar.bz2 (anything else: warning, then zip)')
    .option('-n, --name <name>', 'archive base name; tokens {source} {date} {time} {host}')
    .option('--exclude <glob...>', 'gitignore-style patterns to leave out')
    .option('--strict', 'fail (exit 1) instead of skipping unreadable files')
    .option('--json', 'print one JSON result object on stdout (logs go to stderr and the log file)')
    .option('--dry-run', 'list what would be archived and where; write nothing')
    .option('--s3-bucket <bucket>', 'also upload to this S3 bucket')
    .option('--s3-prefix <prefix>', 'key prefix in the bucket, e.g. host1/')
    .option('--s3-region <region>', 'bucket region (default: AWS_REGION or the AWS profile)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (MinIO, R2, B2, Wasabi, Ceph); default: AWS or AWS_ENDPOINT_URL_S3')
    .option('--s3-storage-class <class>', 'STANDARD (default), STANDARD_IA, GLACIER_IR, DEEP_ARCHIVE, ...')
    .option('--no-local', 'with S3: keep no local copy (stream straight to S3)')
    .option('--threads <n>', 'cores to use for compression (default: all)')
    .option('--wait [seconds]', 'if the same job is already running, wait for it (at most SECONDS) instead of failing')
    .option('--log-file <file>', 'log file (default: logs/backup.log)')
    .option('--verbose', 'show details and stack traces')
    .addOption(new Option('--no-strict').hideHelp())
    .action(async (flags: RunFlags) => {
      const { runCommand } = await import('./run-command.js');
      setExit(await runCommand(io, flags));
    });

  const where = (command: Command): Command =>
    command
      .option('-c, --config <file>', 'settings file whose destinations to use (default: config/settings.json when present)')
      .option('-d, --dest <dir>', 'local backup folder (default: the settings\' destination, else ./backups)')
      .option('--s3-bucket <bucket>', 'S3 bucket holding the backups')
      .option('--s3-prefix <prefix>', 'key prefix in the bucket, e.g. host1/')
      .option('--s3-region <region>', 'bucket region')
      .option('--s3-endpoint <url>', 'S3-compatible endpoint')
      .option('--json', 'print one JSON object on stdout')
      .option('--log-file <file>', 'log file (default: logs/backup.log)')
      .option('--verbose', 'show details and stack traces');

  where(
    program
      .command('list')
      .description('list the backups of a destination, newest first (name, date, format, size, files, sources, last verification)'),
  ).action(async (flags) => {
    const { listCommand } = await import('./list-command.js');
    setExit(await listCommand(io, flags));
  });

  where(
    program
      .command('verify')
      .description('read a backup to its end and check it against its .sha256 and manifest (exit 1 if anything is wrong)')
      .argument('[archive]', 'archive path, s3://bucket/key, or a NAME as `backup list` prints it (looked up in --dest / the destinations)')
      .option('--all', 'verify every backup of the destination'),
  ).action(async (archive: string | undefined, flags) => {
    const { verifyCommand } = await import('./verify-command.js');
    setExit(await verifyCommand(io, archive, flags));
  });

  where(
    program
      .command('restore')
      .description('restore a backup into a folder (streamed, also from S3), checking its SHA-256 as it reads')
      .argument('[archive]', 'archive path or s3://bucket/key (in a terminal, omit it to choose from a list)')
      .option('--to <dir>', 'folder to restore into (created if missing)')
      .option('--overwrite', 'replace files that already exist (default: keep them and report them)')
      .option('--include <pattern...>', 'restore only these paths inside the archive (gitignore-style, e.g. data/docs "*.txt")'),
  ).action(async (archive: string | undefined, flags) => {
    const { restoreCommand } = await import('./restore-command.js');
    setExit(await restoreCommand(io, archive, flags));
  });

  where(
    program
      .command('prune')
      .description("delete one job's old backups by a retention policy (restic forget semantics), with their sidecars")
      .option('--keep-last <n>', 'keep the N newest backups')
      .option('--keep-hourly <n>', 'keep the newest backup of each of the last N hours that have one')
      .option('--keep-daily <n>', 'keep the newest backup of each of the last N days that have one')
      .option('--keep-weekly <n>', 'keep the newest backup of each of the last N weeks (Monday-Sunday) that have one')
      .option('--keep-monthly <n>', 'keep the newest backup of each of the last N months that have one')
      .option('--keep-yearly <n>', 'keep the newest backup of each of the last N years that have one')
      .option('--keep-within <duration>', 'keep every backup within this long of the newest one, e.g. 30d, 1y6m, 12h')
      .option('--dry-run', 'show what would be kept and removed; delete nothing')
      .option('-s, --source <path...>', "the job's sources (default: from the settings file)")
      .option('-n, --name <name>', "the job's name template (default: from the settings file, else {source}-{date}-{time})")
      .option('--wait [seconds]', 'if a run of the same job holds the lock, wait for it'),
  ).action(async (flags) => {
    const { pruneCommand } = await import('./prune-command.js');
    setExit(await pruneCommand(io, flags));
  });

  return program;
}

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with code 0; every parse error is a usage error.
      if (error.exitCode === 0) return ExitCode.ok;
      if (argv.includes('--json')) {
        const { failedResult } = await import('../backup/result.js');
        const { renderJson } = await import('./render-result.js');
        io.stdout.write(renderJson(failedResult(new UsageError(error.message.replace(/^error: /, ''), { code: 'USAGE' }))));
      }
      return ExitCode.usage;
    }
    throw error;
  }
}
