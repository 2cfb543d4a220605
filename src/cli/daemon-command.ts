/**
 * `backup daemon [--config FILE...]`: runs each settings file's job at its
 * `schedule`, in this process's lifetime (containers without cron or
 * systemd). Loads and checks every file first (a file without a schedule is
 * a configuration error, exit 2), prints the jobs and their next runs, then
 * schedules them (src/automation/daemon.ts) until SIGTERM / Ctrl-C, which
 * cancels the running backups cleanly and ends with exit 0.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { DEFAULT_SETTINGS_FILE, loadSettings } from '../config/load-settings.js';
import { DEFAULT_LOG_FILE } from '../config/merge-settings.js';
import { expandHome } from '../config/expand-home.js';
import type { Settings } from '../config/schema.js';
import { CHECK_EVERY_MS, CHECK_FIRST_MS, STOP_GRACE_MS, runDaemon, type DaemonJob } from '../automation/daemon.js';
import { handleOwnShutdown } from './shutdown.js';
import { jobName } from '../automation/job.js';
import { nextRun, parseSchedule } from '../automation/schedule.js';
import { workerFile } from '../archive/worker-file.js';
import { printable } from '../log/printable.js';
import { humanText, type CliIO } from './io.js';
import { localDateTime, openLogger, reportFailure } from './command-runner.js';
import { shellQuote } from './render-result.js';

export interface DaemonFlags {
  config?: string[];
  logFile?: string;
  verbose?: boolean;
}

/** The CLI a run is started with: dist/bin.js beside the built module (from src under vitest: the built one). */
export function cliBin(): string {
  return workerFile('../bin.js', import.meta.url);
}

/** The settings files named, absolute, each once (the same file named twice, or through a link, is one job). */
export function settingsFiles(given: readonly string[] | undefined, cwd: string, home: string): string[] {
  const seen = new Set<string>();
  const files: string[] = [];
  for (const name of given && given.length > 0 ? given : [DEFAULT_SETTINGS_FILE]) {
    const abs = path.resolve(cwd, expandHome(name, home));
    let real = abs;
    try {
      real = realpathSync(abs);
    } catch {
      // Missing: loadSettings says so.
    }
    if (seen.has(real)) continue;
    seen.add(real);
    files.push(abs);
  }
  return files;
}

interface LoadedJob extends DaemonJob {
  settings: Settings;
}

async function loadJobs(files: readonly string[], cwd: string): Promise<LoadedJob[]> {
  const jobs: LoadedJob[] = [];
  for (const file of files) {
    const settings = await loadSettings(file);
    if (settings.schedule === undefined || settings.schedule === null) {
      const shown = path.relative(cwd, file) || file;
      throw new ConfigError(
        file,
        `no "schedule": the daemon runs a job at its schedule. Add one, e.g. "schedule": "daily 02:30" (or "hourly", "weekly sun 03:00", a cron expression "30 2 * * *"), or run \`npx backup\` and answer yes to "Run this backup automatically?"; then start \`npx backup daemon --config ${shellQuote(shown)}\` again.`,
      );
    }
    jobs.push({ name: jobName(file, settings), settingsFile: file, schedule: parseSchedule(settings.schedule), settings });
  }
  // The names prefix the relayed lines: make them unique.
  const used = new Map<string, number>();
  for (const job of jobs) {
    const count = (used.get(job.name) ?? 0) + 1;
    used.set(job.name, count);
    if (count > 1) job.name = `${job.name}-${count}`;
  }
  return jobs;
}

export async function daemonCommand(io: CliIO, flags: DaemonFlags): Promise<number> {
  const output = { json: false, verbose: flags.verbose === true };
  const files = settingsFiles(flags.config, io.cwd, io.home);
  let jobs: LoadedJob[] = [];
  let loadError: unknown;
  try {
    jobs = await loadJobs(files, io.cwd);
  } catch (error) {
    loadError = error;
  }
  // The daemon's own log: --log-file, else the first job's logFile, else logs/backup.log.
  const logFile = path.resolve(io.cwd, expandHome(flags.logFile ?? jobs[0]?.settings.logFile ?? DEFAULT_LOG_FILE, io.home));
  const logger = openLogger(io, logFile, output);
  try {
    if (logger.fileRefused) throw logger.fileRefused;
    if (loadError) throw loadError;
    const bin = cliBin();
    const say = (level: 'info' | 'warn' | 'error', line: string): void => {
      logger.fileOnly[level](line);
      io.stdout.write(humanText(`${localDateTime(io.now())} ${level === 'info' ? '' : `${level}: `}${line}\n`));
    };

    const now = io.now();
    const shown = (file: string): string => printable(path.relative(io.cwd, file).startsWith('..') ? file : path.relative(io.cwd, file) || file);
    const nameWidth = Math.max(...jobs.map((job) => job.name.length));
    const scheduleWidth = Math.max(...jobs.map((job) => job.schedule.description.length));
    io.stdout.write(humanText(`backup daemon: ${jobs.length} ${jobs.length === 1 ? 'job' : 'jobs'}; SIGTERM or Ctrl-C stops it (a run in progress is cancelled, its partial files removed).\n`));
    for (const job of jobs) {
      const next = nextRun(job.schedule, now);
      io.stdout.write(
        humanText(
          `  ${printable(job.name).padEnd(nameWidth)}  ${job.schedule.description.padEnd(scheduleWidth)}  next run ${next ? localDateTime(next) : 'never'}  (${shown(job.settingsFile)})\n`,
        ),
      );
      logger.fileOnly.info(`daemon: job ${job.name} from ${job.settingsFile}, ${job.schedule.description}, next run ${next ? next.toISOString() : 'never'}`);
    }
    io.stdout.write(humanText(`  missed-run check (backup status --alert): in ${CHECK_FIRST_MS / 60_000} minute, then every ${CHECK_EVERY_MS / 3_600_000} hour\n`));

    // On SIGTERM the daemon waits up to STOP_GRACE_MS for its children, then SIGKILLs them, and
    // ends with exit 0: bin.ts must not leave (exit 130) before, orphaning them.
    let killAll = (): void => undefined;
    handleOwnShutdown({ graceMs: STOP_GRACE_MS + 30_000, forceStop: () => killAll() });
    await runDaemon({
      onKillAll: (kill) => (killAll = kill),
      jobs,
      execPath: process.execPath,
      bin,
      cwd: io.cwd,
      env: io.env,
      signal: io.signal,
      say,
      relay: (stream, line) => io[stream].write(humanText(`${line}\n`)),
      formatTime: localDateTime,
    });
    say('info', 'stopped');
    return 0;
  } catch (error) {
    return reportFailure(io, error, logger, output);
  } finally {
    await logger.close();
  }
}
