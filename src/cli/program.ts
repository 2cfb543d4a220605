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
        io.stderr.write(`error: unknown command '${unknown}' (commands: run, wizard; list, verify, restore and prune are not available yet)\n(add --help for usage)\n`);
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
    .option('--log-file <file>', 'log file (default: logs/backup.log)')
    .option('--verbose', 'show details and stack traces')
    .addOption(new Option('--no-strict').hideHelp())
    .action(async (flags: RunFlags) => {
      const { runCommand } = await import('./run-command.js');
      setExit(await runCommand(io, flags));
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
