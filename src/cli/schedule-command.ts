/**
 * `backup schedule install | remove | list`: makes a saved job's `schedule`
 * real on this machine (systemd timer + service, or a crontab block), each
 * with a missed-run check that runs `backup status --alert`; undoes it; and
 * lists every job installed here with its next run and last result. The
 * backends live in src/automation/install.ts (injectable paths documented
 * there).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupError, ExitCode, UsageError, type ExitCodeValue } from '../errors.js';
import { DEFAULT_LOG_FILE } from '../config/merge-settings.js';
import { expandHome } from '../config/expand-home.js';
import { findSettingsFile, loadSettings } from '../config/load-settings.js';
import { jobRef } from '../automation/job.js';
import { readJobRuns } from '../automation/history.js';
import { nextRuns, parseSchedule } from '../automation/schedule.js';
import { selfCommand, shellQuote, undoCommand, type InstallTarget } from '../automation/install-target.js';
import { CHECK_CRON } from '../automation/crontab.js';
import {
  chooseBackend,
  installSchedule,
  listInstalled,
  missingPrograms,
  onPath,
  vanishingPrograms,
  removeFromOtherBackend,
  removeSchedule,
  unitDir,
  type Backend,
  type MachineEnv,
  type RemoveResult,
} from '../automation/install.js';
import { humanText, type CliIO } from './io.js';
import { localDateTime, runCommandFrame, type CommandOutput } from './command-runner.js';
import { oneLine, printable } from '../log/printable.js';

export interface ScheduleFlags {
  config?: string;
  systemd?: boolean;
  cron?: boolean;
  user?: boolean;
  json?: boolean;
  verbose?: boolean;
}

/** dist/bin.js, beside this file's folder: what the timer and the crontab line run. */
const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));
/** This very tool, as the units and the crontab line call it (and as every command printed here says it). */
const SELF = { node: process.execPath, bin: BIN };

function machine(io: CliIO): MachineEnv {
  return { env: io.env, home: io.home };
}

function indent(text: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

function settingsFileOf(loadedFile: string | undefined, flags: ScheduleFlags): string {
  if (!loadedFile) {
    throw new UsageError(
      `no settings file: give --config FILE${flags.config === undefined ? ' (config/settings.json is not here)' : ''}; a schedule belongs to a saved job (run \`${selfCommand(SELF, [])}\` to save one)`,
    );
  }
  return path.resolve(loadedFile);
}

/**
 * The job runs in the folder install ran in: a relative source missing there
 * means install ran from the wrong folder, and every scheduled run would
 * fail. Refused, naming the folder to run it from when a likely one (the
 * settings file's project folder) has the sources. Absolute sources are not
 * checked: a mount may be missing right now.
 */
const backendFlags = (flags: ScheduleFlags): string[] => [...(flags.systemd ? ['--systemd'] : []), ...(flags.cron ? ['--cron'] : []), ...(flags.user ? ['--user'] : [])];

function refuseMissingSources(sources: string[], settingsFile: string, io: CliIO, flags: ScheduleFlags): void {
  const relative = sources.filter((source) => !path.isAbsolute(expandHome(source, io.home)));
  const missing = relative.filter((source) => !existsSync(path.resolve(io.cwd, source)));
  if (missing.length === 0) return;
  const configDir = path.dirname(settingsFile);
  const candidates = [path.dirname(configDir), configDir].filter((dir) => dir !== io.cwd);
  const folder = candidates.find((dir) => relative.every((source) => existsSync(path.resolve(dir, source))));
  const list = missing.map((source) => printable(source)).join(', ');
  throw new UsageError(
    `source${missing.length > 1 ? 's' : ''} ${list} ${missing.length > 1 ? 'do' : 'does'} not exist in ${printable(io.cwd)}, the folder the scheduled job would run in: every run would fail. ` +
      `Run \`schedule install\` from the folder the job runs in (where \`backup run --config FILE\` works)` +
      (folder ? `, e.g. cd ${printable(shellQuote(folder))} && ${printable(selfCommand(SELF, ['schedule', 'install', ...backendFlags(flags), '--config', settingsFile]))}` : ''),
  );
}

export async function scheduleInstallCommand(io: CliIO, flags: ScheduleFlags): Promise<number> {
  return runCommandFrame(io, flags, async ({ loaded, logger }) => {
    const settingsFile = settingsFileOf(loaded.file, flags);
    const given = flags.config ?? path.relative(io.cwd, settingsFile);
    const settings = loaded.settings!;
    if (settings.schedule === undefined || settings.schedule === null) {
      throw new UsageError(`${given} has no "schedule"; add e.g. "schedule": "daily 02:30"`, { code: 'CONFIG_INVALID' });
    }
    const schedule = parseSchedule(settings.schedule);
    refuseMissingSources(settings.sources ?? [], settingsFile, io, flags);
    const m = machine(io);
    const backend = chooseBackend(flags, m);
    if (backend === 'cron' && flags.user) throw new UsageError('--user is for systemd user units; a crontab is always the user\'s own');
    const logFile = path.resolve(io.cwd, expandHome(settings.logFile ?? DEFAULT_LOG_FILE, io.home));
    const job = jobRef({ settingsFile, jobName: settings.job, sources: settings.sources ?? [], nameTemplate: settings.name ?? '', logFile });
    const target: InstallTarget = {
      job: { key: job.key, name: job.name, settingsFile },
      schedule,
      workDir: io.cwd,
      node: process.execPath,
      bin: BIN,
      ...(flags.user ? { user: true } : {}),
    };
    const now = io.now();
    let result;
    try {
      result = await installSchedule(target, backend, m, now);
    } catch (error) {
      if (!(error instanceof BackupError) || !error.message.includes('\n')) throw error;
      return failedOnLines(io, flags, logger, error);
    }
    // Installed and enabled here: the same job on the other backend would run twice at every time.
    // Units written but not enabled (systemd not running here) schedule nothing yet: the other
    // backend's entry stays until they are, and the output says how to remove it then.
    const enabled = result.toRun.length === 0;
    const other = enabled ? await removeFromOtherBackend(settingsFile, backend, m) : { removed: [], problems: [] };
    const otherBackend = backend === 'systemd' ? '--cron' : '--systemd';
    const runs = nextRuns(schedule, now, 3);
    const undo = undoCommand(SELF, settingsFile, { user: flags.user });
    logger.fileOnly.info(`schedule installed (${backend}) for ${settingsFile}: ${schedule.text}`);

    const lines: string[] = [];
    const where = backend === 'systemd' ? `systemd ${flags.user ? 'user' : 'system'} units ${result.name}` : `your crontab, block ${result.name}`;
    lines.push(`Scheduled job "${printable(job.name)}" from ${printable(settingsFile)}: ${printable(schedule.text)} (${schedule.description}), in ${printable(io.cwd)}`);
    lines.push(`Backend: ${where}`);
    // The units and the crontab line call these exact paths: warn when they may not be there next month.
    const vanishing = vanishingPrograms({ node: target.node, bin: target.bin });
    for (const warning of vanishing) {
      io.stderr.write(humanText(`warning: ${warning}\n`));
      logger.fileOnly.warn(`schedule install: ${warning}`);
    }
    for (const r of result.replaced) lines.push(`Removed the job's old ${backend === 'systemd' ? 'units' : 'block'} ${r} (the job was renamed)`);
    for (const r of other.removed) {
      if (r.backend === 'cron') lines.push(`Removed the job's crontab block ${/^# >>> backup-automation (\S+)/.exec(r.removedBlock ?? '')?.[1] ?? ''} (it is now a systemd timer):`, indent(r.removedBlock ?? ''));
      else lines.push(`Removed the job's systemd units (it is now a crontab block): ${r.removedFiles.map(printable).join(', ')}`);
      for (const command of r.ran.filter((c) => c.startsWith('systemctl'))) lines.push(`Ran: ${command}`);
      if (r.toRun.length > 0) lines.push('systemd is not running here: run these once it is:', ...r.toRun.map((command) => `  ${command}`));
    }
    if (!enabled) lines.push(`If this job is also in ${backend === 'systemd' ? 'your crontab' : 'systemd'}, remove it there once these units are enabled: ${selfCommand(SELF, ['schedule', 'remove', otherBackend, '--config', settingsFile])}`);
    for (const problem of other.problems) {
      const fix = selfCommand(SELF, ['schedule', 'remove', '--systemd', '--config', settingsFile]);
      io.stderr.write(humanText(`warning: ${oneLine(problem)}; it would run twice: remove it with ${printable(fix)}\n`));
    }
    lines.push('');
    for (const file of result.files) {
      lines.push(`${file.unchanged ? 'Unchanged' : 'Wrote'} ${printable(file.path)}:`);
      lines.push(indent(file.text), '');
    }
    if (result.crontabBlock !== undefined) {
      lines.push(result.ran.length > 0 ? 'Wrote this block into your crontab (crontab -l shows it; other lines kept):' : 'Your crontab already has this block (unchanged):');
      lines.push(indent(result.crontabBlock), '');
    }
    for (const command of result.ran.filter((c) => c.startsWith('systemctl'))) lines.push(`Ran: ${command}`);
    if (result.toRun.length > 0) {
      lines.push('systemd is not running here: run these once it is (or on the machine these units are for):');
      for (const command of result.toRun) lines.push(`  ${command}`);
    }
    lines.push(`Next runs: ${runs.map(localDateTime).join(', ')}${backend === 'systemd' ? ' (each up to a few minutes later: RandomizedDelaySec)' : ''}`);
    lines.push(`Missed-run check: \`backup status --alert\` ${backend === 'systemd' ? 'at 00:17, 06:17, 12:17 and 18:17' : `on "${CHECK_CRON}"`}`);
    lines.push(`Undo: ${undo}`);

    const output: CommandOutput = {
      exitCode: 0,
      json: {
        backend,
        user: flags.user === true,
        name: result.name,
        job: job.name,
        settingsFile,
        workDir: io.cwd,
        schedule: schedule.text,
        cron: schedule.cron,
        files: result.files.map((f) => ({ path: f.path, unchanged: f.unchanged, text: f.text })),
        crontabBlock: result.crontabBlock ?? null,
        replaced: result.replaced,
        ran: result.ran,
        toRun: result.toRun,
        nextRuns: runs.map((d) => d.toISOString()),
        undo,
        removedFromOther: other.removed.map((r) => ({ backend: r.backend, removedFiles: r.removedFiles, removedBlock: r.removedBlock ?? null, ran: r.ran, toRun: r.toRun })),
        warnings: [...vanishing, ...other.problems],
      },
      human: `${lines.join('\n')}\n`,
    };
    return output;
  });
}

/**
 * A failure whose message has several lines (a program's stderr, what was
 * put back, what to do): each printed on its own line, not squeezed onto
 * one with `\x0a` in it. Exit 1; --json: the usual error object.
 */
function failedOnLines(io: CliIO, flags: ScheduleFlags, logger: { fileOnly: { error: (message: string, meta?: Record<string, unknown>) => void } }, error: BackupError): CommandOutput {
  logger.fileOnly.error(error.message, { code: error.code });
  if (!flags.json) {
    const [first, ...rest] = error.message.split('\n');
    io.stderr.write(humanText(`error: ${oneLine(first ?? '')}\n${rest.map((line) => `${oneLine(line)}\n`).join('')}`));
  }
  return { exitCode: error.exitCode, json: { error: { code: error.code, message: error.message } }, human: '' };
}

export async function scheduleRemoveCommand(io: CliIO, flags: ScheduleFlags): Promise<number> {
  // The settings file need not be valid (or still exist) to undo its schedule: it is not loaded.
  return runCommandFrame(io, { json: flags.json, verbose: flags.verbose }, async ({ logger }) => {
    const settingsFile = settingsFileOf(findSettingsFile(flags.config, io.cwd), flags);
    const m = machine(io);
    if (flags.systemd && flags.cron) throw new UsageError('give --systemd or --cron, not both');
    const backends: Backend[] = flags.systemd ? ['systemd'] : flags.cron ? ['cron'] : ['systemd', ...(onPath(io.env.BACKUP_CRONTAB || 'crontab', io.env) ? (['cron'] as const) : [])];
    const results: RemoveResult[] = [];
    try {
      for (const backend of backends) results.push(await removeSchedule(settingsFile, backend, flags.user === true, m));
    } catch (error) {
      if (!(error instanceof BackupError) || !error.message.includes('\n')) throw error;
      return failedOnLines(io, flags, logger, error);
    }
    const lines: string[] = [];
    for (const r of results) {
      for (const file of r.removedFiles) lines.push(`Removed ${printable(file)}`);
      if (r.removedBlock) lines.push('Removed this block from your crontab:', indent(r.removedBlock));
      for (const command of r.ran.filter((c) => c.startsWith('systemctl'))) lines.push(`Ran: ${command}`);
      if (r.toRun.length > 0) {
        lines.push('systemd is not running here: run these once it is:');
        for (const command of r.toRun) lines.push(`  ${command}`);
      }
    }
    const removedAny = results.some((r) => r.removedFiles.length > 0 || r.removedBlock);
    if (!removedAny) {
      lines.push(`Nothing was installed for ${printable(settingsFile)} (looked in ${results.map((r) => printable(r.lookedIn)).join(' and ')}); nothing to remove.`);
    }
    return {
      exitCode: 0 as ExitCodeValue,
      json: {
        settingsFile,
        removed: removedAny,
        results: results.map((r) => ({ backend: r.backend, removedFiles: r.removedFiles, removedBlock: r.removedBlock ?? null, ran: r.ran, toRun: r.toRun, lookedIn: r.lookedIn })),
      },
      human: `${lines.join('\n')}\n`,
    };
  });
}

interface LastResult {
  outcome: string;
  exitCode: number | null;
  start: string;
  end: string | null;
  error: string | null;
}

/** The job's last run from its history: the log file from its settings (default logs/backup.log in its folder). */
async function lastResult(settingsFile: string, workDir: string, home: string): Promise<{ last: LastResult | null; problem?: string }> {
  let settings;
  try {
    settings = await loadSettings(settingsFile);
  } catch (error) {
    return { last: null, problem: oneLine((error as Error).message) };
  }
  const logFile = path.resolve(workDir, expandHome(settings.logFile ?? DEFAULT_LOG_FILE, home));
  const job = jobRef({ settingsFile, jobName: settings.job, sources: settings.sources ?? [], nameTemplate: settings.name ?? '', logFile });
  const runs = await readJobRuns(job);
  const run = runs[runs.length - 1];
  if (!run) return { last: null };
  return { last: { outcome: run.outcome, exitCode: run.exitCode, start: run.start, end: run.end, error: run.error ? run.error.message : null } };
}

export async function scheduleListCommand(io: CliIO, flags: ScheduleFlags): Promise<number> {
  return runCommandFrame(io, { json: flags.json, verbose: flags.verbose }, async () => {
    const m = machine(io);
    const { jobs, problems } = await listInstalled(m);
    const now = io.now();
    const rows = [];
    for (const job of jobs) {
      let next: string | null = null;
      let scheduleProblem: string | undefined;
      try {
        next = nextRuns(parseSchedule(job.marker.schedule), now, 1)[0]?.toISOString() ?? null;
      } catch (error) {
        scheduleProblem = (error as Error).message;
      }
      const { last, problem } = await lastResult(job.marker.config, job.marker.workdir, io.home);
      rows.push({
        job: job.marker.job,
        settingsFile: job.marker.config,
        workDir: job.marker.workdir,
        backend: job.backend,
        user: job.user,
        where: job.where,
        name: job.name,
        schedule: job.marker.schedule,
        nextRun: next,
        lastRun: last,
        problem: problem ?? scheduleProblem ?? null,
        // The node or dist/bin.js it calls is gone (npx cache cleaned, node upgraded): every run fails.
        broken: missingPrograms(job.programs),
      });
    }
    const lines: string[] = [];
    if (rows.length === 0) {
      const looked = m.env.BACKUP_SYSTEMD_DIR ? unitDir(m, false) : `${unitDir(m, false)}, ${unitDir(m, true)}`;
      lines.push(`No scheduled jobs on this machine (looked in ${printable(looked)} and your crontab). Add one: ${selfCommand(SELF, ['schedule', 'install'])} --config FILE`);
    }
    for (const row of rows) {
      const last = row.lastRun
        ? `${row.lastRun.outcome}${row.lastRun.exitCode !== null ? ` (exit ${row.lastRun.exitCode})` : ''} at ${localDateTime(new Date(row.lastRun.end ?? row.lastRun.start))}${row.lastRun.error ? `: ${oneLine(row.lastRun.error)}` : ''}`
        : 'never run';
      lines.push(`${printable(row.job)}  (${printable(row.settingsFile)})`);
      lines.push(`  backend:   ${row.backend === 'systemd' ? `systemd${row.user ? ' --user' : ''}, ${printable(path.join(row.where, `${row.name}.timer`))}` : `cron, block ${row.name} in your crontab`}`);
      lines.push(`  schedule:  ${printable(row.schedule)}`);
      lines.push(`  next run:  ${row.nextRun ? localDateTime(new Date(row.nextRun)) : 'none'}`);
      lines.push(`  last run:  ${last}`);
      if (row.problem) lines.push(`  problem:   ${oneLine(row.problem)}`);
      for (const broken of row.broken) lines.push(`  broken:    ${printable(broken)} (its runs fail: install the schedule again from the project folder)`);
    }
    for (const p of problems) lines.push(`warning: ${oneLine(p)}`);
    const broken = rows.some((row) => row.broken.length > 0);
    return { exitCode: (broken ? ExitCode.failed : ExitCode.ok) as ExitCodeValue, json: { jobs: rows, problems }, human: `${lines.join('\n')}\n` };
  });
}
