/**
 * The command-line contract (DESIGN.md) as a commander program. Commands are
 * loaded lazily so `backup --help` stays fast. `main` returns an exit code;
 * it never exits the process (src/bin.ts does).
 */
import { Command, CommanderError, Option } from 'commander';
import { toolVersion } from '../version.js';
import { ExitCode, UsageError } from '../errors.js';
import { checkPathArguments } from '../config/check-paths.js';
import { humanText, type CliIO } from './io.js';
import { registerSecretValues } from '../log/redact.js';
import type { RunFlags } from './run-command.js';

/** What every --help ends with: examples, then the exit codes (DESIGN.md's table, per command). */
const HELP: Record<string, { examples: string[]; exits: Array<[number, string]> }> = {
  backup: {
    examples: ['backup                                   # the wizard: asks, runs, offers to save', 'backup run --source ./data --dest ./backups', 'backup list && backup verify --all'],
    exits: [
      [0, 'success'],
      [1, 'failed (a destination, a check, a delete; or the job is locked)'],
      [2, 'usage or configuration error'],
      [3, 'backup made, but some source files could not be read'],
      [130, 'cancelled (Ctrl-C, SIGTERM)'],
    ],
  },
  wizard: {
    examples: ['backup', 'backup wizard --verbose'],
    exits: [
      [0, 'backup complete (or nothing run)'],
      [1, 'the backup failed'],
      [2, 'no terminal, or a bad answer in the settings'],
      [3, 'backup made, but some source files could not be read'],
      [130, 'cancelled'],
    ],
  },
  run: {
    examples: [
      'backup run --source ./data --dest ./backups --format tar.gz',
      'backup run --config config/settings.json --json',
      'backup run -s /srv/www -d /mnt/backups --s3-bucket my-backups --s3-prefix host1/',
    ],
    exits: [
      [0, 'backup complete and verified'],
      [1, 'failed: a destination did not get a complete backup, or the job is locked'],
      [2, 'usage or configuration error (bad flag, settings, missing source)'],
      [3, 'backup complete, but some source items could not be read'],
      [130, 'cancelled; partial files removed'],
    ],
  },
  list: {
    examples: ['backup list', 'backup list --dest /mnt/backups --json', 'backup list --s3-bucket my-backups --s3-prefix host1/'],
    exits: [
      [0, 'listed'],
      [1, 'a destination could not be listed (the others are shown)'],
      [2, 'usage error (no such folder, bad flag or settings)'],
      [130, 'cancelled'],
    ],
  },
  verify: {
    examples: [
      'backup verify backups/data-20261126-020000.tar.gz',
      'backup verify --all --dest /mnt/backups',
      'backup verify s3://my-backups/host1/data-20261126-020000.tar.gz --json',
    ],
    exits: [
      [0, 'every backup checked is good'],
      [1, 'a backup is damaged or does not match its .sha256 / manifest'],
      [2, 'usage error (no such archive, bad flag)'],
      [130, 'cancelled'],
    ],
  },
  restore: {
    examples: [
      'backup restore backups/data-20261126-020000.tar.gz --to ./restored',
      'backup restore s3://my-backups/host1/data-20261126-020000.tar.gz --to /srv/data --overwrite',
      'backup restore backups/data-20261126-020000.tar.gz --to ./restored --include "docs/*.txt"',
    ],
    exits: [
      [0, 'restored, and the archive matches its .sha256'],
      [1, 'incomplete (entries not restored, existing files kept) or the checksum does not match'],
      [2, 'usage error (no such archive, no --to)'],
      [130, 'cancelled'],
    ],
  },
  status: {
    examples: ['backup status', 'backup status --config /etc/backup/www.json --config /etc/backup/db.json --json', 'backup status --alert   # the missed-run check'],
    exits: [
      [0, 'every job is ok'],
      [1, 'a job is failing, late or never run (a broken settings file is that job failing)'],
      [2, 'usage error (no settings file given or found)'],
      [130, 'cancelled'],
    ],
  },
  prune: {
    examples: ['backup prune --keep-daily 7 --keep-weekly 4 --dry-run', 'backup prune --config config/settings.json --keep-last 10'],
    exits: [
      [0, 'pruned (or, with --dry-run, planned)'],
      [1, 'a delete failed, or a run of the job holds the lock'],
      [2, 'usage error (no policy, bad flag or settings)'],
      [130, 'cancelled'],
    ],
  },
  notify: {
    examples: ['backup notify test', 'backup notify test --config /etc/backup/www.json --json'],
    exits: [
      [0, 'every channel took the test message'],
      [1, 'a channel failed (each one is listed with why)'],
      [2, 'no settings, or the settings have no "notify" channels'],
      [130, 'cancelled'],
    ],
  },
  'notify test': {
    examples: ['backup notify test', 'backup notify test --config /etc/backup/www.json --json'],
    exits: [
      [0, 'every channel took the test message'],
      [1, 'a channel failed (each one is listed with why)'],
      [2, 'no settings, or the settings have no "notify" channels'],
      [130, 'cancelled'],
      ],
    },
  daemon: {
    examples: ['backup daemon', 'backup daemon --config config/web.json --config config/db.json'],
    exits: [
      [0, 'stopped by SIGTERM or Ctrl-C (running backups cancelled, partial files removed; killed if still running after 90 s)'],
      [1, 'the daemon itself could not work (e.g. its own files are missing); a failed backup never stops it'],
      [2, 'a settings file is missing, invalid, or has no "schedule"'],
      [130, 'a second SIGTERM / Ctrl-C: the running backups killed, left at once'],
    ],
  },
  ui: {
    examples: ['backup ui', 'backup ui --config /etc/backup/www.json --config /etc/backup/db.json --port 8080', 'ssh -L 8080:127.0.0.1:8080 server   # then: backup ui --port 8080 on the server'],
    exits: [
      [0, 'stopped by Ctrl-C or SIGTERM (what the page started is cancelled first, as Ctrl-C would)'],
      [2, 'usage error (bad --port or --host, port in use, a settings file not found)'],
      [130, 'a second Ctrl-C: left at once'],
    ],
  },
  schedule: {
    examples: [
      'backup schedule install --config config/settings.json   # systemd timer if systemd runs, else crontab; --user, --cron',
      'backup schedule remove --config config/settings.json',
      'backup schedule list --json',
    ],
    exits: [
      [0, 'installed, removed (or nothing to remove), listed'],
      [1, 'the units or the crontab could not be written, enabled or removed; list: an installed job calls a node or bin.js that is missing (broken)'],
      [2, 'usage or configuration error (no settings file, no "schedule", neither systemd nor cron here)'],
      [130, 'cancelled'],
    ],
  },
};

export function helpAfter(command: string): string {
  const help = HELP[command];
  if (!help) return '';
  const width = Math.max(...help.exits.map(([code]) => String(code).length));
  return [
    '',
    'Examples:',
    ...help.examples.map((e) => `  $ ${e}`),
    '',
    'Exit codes:',
    ...help.exits.map(([code, meaning]) => `  ${String(code).padStart(width)}  ${meaning}`),
    '',
  ].join('\n');
}

function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('backup')
    .description(
      'Back up files and folders into zip / tar.gz / tar.bz2 archives, with a .sha256 and a manifest beside each, locally and/or to S3.',
    )
    .version(toolVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(humanText(text)),
      writeErr: (text) => io.stderr.write(humanText(text)),
    })
    .addHelpText('after', helpAfter('backup'));

  program
    .command('wizard', { isDefault: true })
    .description('ask for source, destination, format and name, run the backup, offer to save the settings (default command)')
    .option('--log-file <file>', 'log file (default: settings.json\'s logFile when config/settings.json has one, else logs/backup.log)')
    .option('--verbose', 'show details and stack traces')
    // `backup list` must say "unknown command", not "too many arguments for 'wizard'".
    .allowExcessArguments(true)
    .action(async (flags: { verbose?: boolean; logFile?: string }, command: Command) => {
      const [unknown] = command.args;
      if (unknown !== undefined) {
        io.stderr.write(`error: unknown command '${unknown}' (commands: run, list, verify, restore, prune, schedule, status, daemon, notify, ui, wizard)\n(add --help for usage)\n`);
        setExit(ExitCode.usage);
        return;
      }
      const { wizardCommand } = await import('./wizard-command.js');
      setExit(await wizardCommand(io, { verbose: flags.verbose === true, logFile: flags.logFile }));
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
      .option(
        '--from <name>',
        'only the destination of this name (settings "destinations"[].name; "local" and "s3" for the older keys); repeat it or give a comma list for several',
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      )
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

  // `backup notify test` sends a test message on every channel of the settings.
  const notify = program
    .command('notify')
    .description('alert channels of a job (settings.json "notify"): `backup notify test` sends a test message on each');
  notify
    .command('test')
    .description('send a test message on every channel of the settings\' "notify" and say how each went (one line per channel)')
    .option('-c, --config <file>', 'settings file (default: config/settings.json when present)')
    .option('--json', 'print one JSON object on stdout: {ok, exitCode, job, host, channels: [{channel, type, ok, attempts, error}], error}')
    .option('--log-file <file>', 'log file (default: the settings\' logFile, else logs/backup.log)')
    .option('--verbose', 'show details and stack traces')
    .addHelpText('after', helpAfter('notify test'))
    .action(async (flags: { config?: string; json?: boolean; verbose?: boolean; logFile?: string }) => {
      io.command = 'notify';
      const { notifyTestCommand } = await import('./notify-command.js');
      setExit(await notifyTestCommand(io, flags));
    });

  // `backup daemon`, the in-process scheduler.
  program
    .command('daemon')
    .description("run each settings file's job at its \"schedule\" until stopped (for containers without cron or systemd)")
    .option('-c, --config <file...>', 'settings files, each with a "schedule" (default: config/settings.json)')
    .option('--log-file <file>', "the daemon's own log (default: the first settings file's logFile, else logs/backup.log)")
    .option('--verbose', 'show details and stack traces')
    .action(async (flags: { config?: string[]; logFile?: string; verbose?: boolean }) => {
      const { daemonCommand } = await import('./daemon-command.js');
      setExit(await daemonCommand(io, flags));
    });
  // `backup ui`, the local web dashboard.
  program
    .command('ui')
    .description('a local web dashboard: jobs, backups, run / verify / restore with progress, settings, log (on 127.0.0.1; the URL it prints carries the access token)')
    .option('-c, --config <file...>', 'settings file of each job (default: config/settings.json)')
    .option('--port <n>', 'port to listen on (default: a free one)')
    .option('--host <address>', 'listen on this address instead of 127.0.0.1 (anyone who reaches it and has the token can restore every backup)')
    .option('--open', 'open the dashboard in the default browser')
    .option('--log-file <file>', "the dashboard's own log (default: the first settings file's logFile, else logs/backup.log)")
    .option('--verbose', 'show details and stack traces')
    .addHelpText('after', helpAfter('ui'))
    .action(async (flags: { config?: string[]; port?: string; host?: string; open?: boolean; logFile?: string; verbose?: boolean }) => {
      io.command = 'ui';
      const { uiCommand } = await import('./ui-command.js');
      setExit(await uiCommand(io, flags));
    });
  // `backup status`: verdicts, and the missed-run check (--alert).
  program
    .command('status')
    .description('per job: ok | failing | late | never run, the last success and failure, the next run, the newest backups (exit 0 only if all ok)')
    .option('-c, --config <file...>', 'settings file of each job (default: config/settings.json)')
    .option('--json', 'print one JSON object on stdout: {ok, exitCode, jobs: [...]}')
    .option('--alert', 'the missed-run check: alert once per incident (late / failing) on the notify channels, and once when it recovers')
    .option('--verbose', 'show details and stack traces')
    .action(async (flags: { config?: string[]; json?: boolean; alert?: boolean; verbose?: boolean }) => {
      const { statusCommand } = await import('./status-command.js');
      setExit(await statusCommand(io, flags));
    });
  // `backup schedule install | remove | list`.
  {
    const schedule = program
      .command('schedule')
      .description("make a saved job's \"schedule\" real on this machine (systemd timer or crontab), undo it, list what is installed");
    const backendFlags = (command: Command): Command =>
      command
        .option('-c, --config <file>', 'settings file of the job (default: config/settings.json when present)')
        .option('--systemd', 'systemd service + timer (default when systemd runs)')
        .option('--cron', "a block in the user's crontab (default without systemd)")
        .option('--user', 'systemd user units (~/.config/systemd/user) instead of system units')
        .option('--json', 'print one JSON object on stdout')
        .option('--verbose', 'show details and stack traces');
    backendFlags(
      schedule
        .command('install')
        .description('write and enable the timer (or crontab block) that runs `backup run --config FILE`, plus a missed-run check; prints what it wrote'),
    ).action(async (flags) => {
      const { scheduleInstallCommand } = await import('./schedule-command.js');
      setExit(await scheduleInstallCommand(io, flags));
    });
    backendFlags(schedule.command('remove').description("disable and delete this job's timer (or crontab block); other jobs are kept")).action(async (flags) => {
      const { scheduleRemoveCommand } = await import('./schedule-command.js');
      setExit(await scheduleRemoveCommand(io, flags));
    });
    schedule
      .command('list')
      .description('every job scheduled on this machine: settings file, backend, schedule, next run, last result')
      .option('--json', 'print one JSON object on stdout')
      .option('--verbose', 'show details and stack traces')
      .action(async (flags) => {
        const { scheduleListCommand } = await import('./schedule-command.js');
        setExit(await scheduleListCommand(io, flags));
      });
    for (const sub of schedule.commands) sub.addHelpText('after', helpAfter('schedule'));
  }

  // An empty path (`-s "$DIR"` with DIR unset) is a usage error for every command, before it runs.
  program.hook('preAction', (_program, action) => {
    const problem = checkPathArguments(action.opts(), action.registeredArguments.map((a, i) => [a.name(), action.processedArgs[i]] as const));
    if (problem) action.error(`error: ${problem}`, { exitCode: ExitCode.usage, code: 'backup.usage' });
  });

  for (const command of program.commands) command.addHelpText('after', helpAfter(command.name()));
  return program;
}

export async function main(argv: readonly string[], callerIo: CliIO): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const io: CliIO = { ...callerIo };
  // Secret values from the environment are redacted wherever they would be printed or logged.
  registerSecretValues(io.env);
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  // Log lines and messages name the command they come from.
  program.hook('preAction', (_program, action) => {
    io.command = action.name();
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
