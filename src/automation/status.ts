/**
 * A job's verdict from its run history and its schedule, as `backup status`
 * shows it. Pure: the time, the runs and whether a recorded run's process
 * is still alive are passed in.
 *
 * - `failing`: the last finished backup run failed, or was killed (a start
 *   record without an end whose process is gone: see run-alive.ts; on another
 *   host, which cannot be checked, once it is past its deadline); also a
 *   settings file that cannot be read.
 * - `late`: the job has a schedule and the first scheduled run after the
 *   last success began (or, never run, after the schedule began) did not
 *   happen: now is past that run's due time plus a grace (default half the
 *   gap to the run after it, at least an hour). Measured from the run that
 *   was due, not from the schedule's longest gap, so a weekday or a
 *   1st-and-15th schedule is late on the day, not days later.
 * - `never run`: no finished backup run, and not (yet) late.
 * - `ok`: otherwise. A run going on now is shown as a detail (`running`).
 *
 * A warning run (exit 3: some files skipped) made its backup: it counts as
 * a success. A cancelled run (Ctrl-C, the daemon or service stopped, a
 * shutdown) is not the job's last run: a backup it did not make shows as late.
 * A run refused by the job lock (LOCKED: another run of the job was going)
 * did not run at all: it is listed with prune and verify runs, which are
 * shown but do not make the verdict. "Last" means the run that ended last
 * (a long run that began earlier and ended later is the newer outcome).
 */
import { nextRun, type Schedule } from './schedule.js';
import type { HistoryRecord } from './types.js';

export type Verdict = 'ok' | 'failing' | 'late' | 'never run';

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;
/** How long a run on another host (which cannot be checked) may stay open without a schedule. */
export const OPEN_RUN_LIMIT_MS = 24 * HOUR_MS;

export interface JobStatusInput {
  job: { key: string; name: string; settingsFile?: string };
  /** The job's parsed schedule, if it has one. */
  schedule?: Schedule | null;
  /** Since when the schedule exists (the settings file's mtime): a job never run is late once that is long enough ago. */
  scheduleSince?: Date | null;
  /** The job's runs, oldest first (readJobRuns). */
  runs: readonly HistoryRecord[];
  /**
   * Whether a run without an end record is still going (runAlive in run-alive.ts); undefined: cannot tell (another host). Such a
   * run counts as killed once it is older than its deadline: the run due after it began plus the grace, or 24 h
   * without a schedule (a reboot or a replaced container leaves it open for ever).
   */
  isAlive: (run: HistoryRecord) => boolean | undefined;
  now: Date;
  /** Grace after a due run; default max(gap to the run after it / 2, 1 h). */
  graceMs?: number;
  /** The settings file could not be read: the job is failing with this error (a check must not go silent). */
  settingsError?: { code: string; message: string } | null;
}

export interface RunSummary {
  id: string;
  command: HistoryRecord['command'];
  trigger: HistoryRecord['trigger'] | null;
  start: string;
  end: string | null;
  outcome: HistoryRecord['outcome'] | 'killed';
  exitCode: number | null;
  archive: string | null;
  bytes: number | null;
  error: HistoryRecord['error'];
}

export interface JobStatus {
  job: string;
  name: string;
  settingsFile: string | null;
  verdict: Verdict;
  /** One sentence: why this verdict. */
  reason: string;
  /** A run going on now (pid alive), if any. */
  running: { start: string; pid: number; host: string; command: string } | null;
  lastRun: RunSummary | null;
  lastSuccess: { at: string; archive: string | null; bytes: number | null; outcome: 'ok' | 'warning' } | null;
  lastFailure: { at: string; outcome: 'failed' | 'killed' | 'cancelled'; error: string | null; code: string | null; hint: string | null } | null;
  schedule: { text: string; description: string } | null;
  /** ISO 8601 UTC of the next scheduled run. */
  nextRun: string | null;
  /** When the job is late if no successful run happens before. */
  lateAfter: string | null;
  /** Newest archive on each destination (from the last successful run in the history). */
  destinations: Array<{ name: string; type: string; location: string; at: string }>;
  /** The last prune / verify runs and backup runs refused by the job lock (LOCKED), for the record: not the verdict. */
  lastOther: RunSummary[];
}

function summary(run: HistoryRecord, killed: boolean): RunSummary {
  return {
    id: run.id,
    command: run.command,
    trigger: run.trigger ?? null,
    start: run.start,
    end: run.end,
    outcome: killed ? 'killed' : run.outcome,
    exitCode: run.exitCode,
    archive: run.archive,
    bytes: run.bytes,
    error: run.error,
  };
}

const isBackup = (run: HistoryRecord): boolean => run.command === 'run' || run.command === 'wizard';
/** Refused by the job lock: another run of the job was going, this one did nothing. */
const isRefused = (run: HistoryRecord): boolean => run.type === 'end' && run.error?.code === 'LOCKED';
/** When a run ended (a run without an end: when it began), to order outcomes. */
const endTime = (run: Pick<HistoryRecord, 'start' | 'end'>): number => Date.parse(run.end ?? run.start);

/** 2026-11-28 02:30 UTC: a time in a sentence (the same for every reader, wherever the check runs). */
export function utcMinute(iso: string | Date): string {
  const text = (typeof iso === 'string' ? new Date(iso) : iso).toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, 16)} UTC`;
}

/** The grace after a due run: half the gap to the run after it, at least an hour. */
/**
 * Half the gap to the following run, at least an hour (an hourly job is not late a minute
 * after its time), at most a day: a weekly or monthly run that has not happened a day after
 * its time is missed, and waiting half a month to say so would be too late to matter.
 */
export function defaultGrace(intervalMs: number): number {
  return Math.min(Math.max(intervalMs / 2, HOUR_MS), DAY_MS);
}

/**
 * The first scheduled run strictly after `from` (the start of the last
 * successful run, or when the schedule began), and when it counts as missed:
 * `due` plus the grace (`graceMs`, else half the gap from `due` to the run
 * after it, at least an hour). Null when the schedule never runs again.
 */
export function dueAfter(schedule: Schedule, from: Date, graceMs?: number): { due: Date; lateAfter: Date } | null {
  const due = nextRun(schedule, from);
  if (!due) return null;
  const following = nextRun(schedule, due);
  const grace = graceMs ?? defaultGrace(following ? following.getTime() - due.getTime() : 0);
  return { due, lateAfter: new Date(due.getTime() + grace) };
}

/** "expected every day at 02:30"; a bare cron expression reads "schedule: cron "0 2 * * 1-5"". */
function expected(schedule: Schedule): string {
  return schedule.description.startsWith('cron ') ? `schedule: ${schedule.description}` : `expected ${schedule.description}`;
}

/** When an open run that cannot be checked (another host) counts as killed: the run due after it began plus the grace, else 24 h. */
function openRunDeadline(run: HistoryRecord, schedule: Schedule | null, graceMs: number | undefined): Date {
  const start = new Date(run.start);
  return (schedule ? dueAfter(schedule, start, graceMs)?.lateAfter : undefined) ?? new Date(start.getTime() + OPEN_RUN_LIMIT_MS);
}

export function jobStatus(input: JobStatusInput): JobStatus {
  const { now } = input;
  const schedule = input.schedule ?? null;
  let running: JobStatus['running'] = null;
  const finished: Array<{ run: HistoryRecord; killed: boolean; overdue?: Date }> = [];
  const others: RunSummary[] = [];
  for (const run of input.runs) {
    const open = run.type === 'start' || run.outcome === 'running';
    const seen = open ? input.isAlive(run) : false;
    // Another host: going until its deadline, killed after it.
    const deadline = open && seen === undefined ? openRunDeadline(run, schedule, input.graceMs) : undefined;
    const alive = seen === true || (deadline !== undefined && now.getTime() <= deadline.getTime());
    if (!isBackup(run) || (!open && isRefused(run))) {
      if (!(open && alive)) others.push(summary(run, open));
      continue;
    }
    if (open && alive) {
      running = { start: run.start, pid: run.pid, host: run.host, command: run.command };
      continue;
    }
    // A cancelled run (Ctrl-C, the daemon or the service stopped, a shutdown) is not the job
    // failing; a backup that did not happen because of it shows up as late.
    if (!open && run.outcome === 'cancelled') continue;
    finished.push({ run, killed: open, ...(deadline ? { overdue: deadline } : {}) });
  }
  // The history is in start order; the outcome that counts is the one that ended last (sort is stable).
  finished.sort((a, b) => endTime(a.run) - endTime(b.run));
  others.sort((a, b) => endTime(a) - endTime(b));

  const failedOf = (e: { run: HistoryRecord; killed: boolean; overdue?: Date }): boolean => e.killed || e.run.outcome === 'failed' || e.run.outcome === 'cancelled';
  const last = finished.at(-1);
  const success = [...finished].reverse().find((e) => !failedOf(e));
  const failure = [...finished].reverse().find(failedOf);

  const lastSuccess: JobStatus['lastSuccess'] = success
    ? { at: success.run.end ?? success.run.start, archive: success.run.archive, bytes: success.run.bytes, outcome: success.run.outcome === 'warning' ? 'warning' : 'ok' }
    : null;
  const lastFailure: JobStatus['lastFailure'] = failure
    ? {
        at: failure.run.end ?? failure.run.start,
        outcome: failure.killed ? 'killed' : failure.run.outcome === 'cancelled' ? 'cancelled' : 'failed',
        error: failure.killed
          ? failure.overdue
            ? `the run started ${utcMinute(failure.run.start)} (pid ${failure.run.pid} on ${failure.run.host}, which cannot be checked from here) had not ended by ${utcMinute(failure.overdue)}: it was killed, or the machine stopped`
            : `the run started ${utcMinute(failure.run.start)} (pid ${failure.run.pid} on ${failure.run.host}) ended without a record: it was killed, or the machine stopped`
          : (failure.run.error?.message ?? (failure.run.outcome === 'cancelled' ? 'the scheduled run was cancelled (SIGTERM or shutdown)' : null)),
        code: failure.killed ? 'KILLED' : (failure.run.error?.code ?? null),
        hint: failure.run.error?.hint ?? null,
      }
    : null;
  const destinations = success
    ? success.run.destinations.filter((d) => d.ok).map((d) => ({ name: d.name, type: d.type, location: d.location, at: success.run.end ?? success.run.start }))
    : [];

  // Lateness: the first run due after the last success began (or after the schedule began), plus the grace.
  // From the END of the last success: a run still going at a due time (a manual run at 02:20
  // that ended at 03:10, with the 02:30 run refused by its lock) covers that slot.
  const from = success ? new Date(success.run.end ?? success.run.start) : (input.scheduleSince ?? null);
  const dueRun = schedule && from ? dueAfter(schedule, from, input.graceMs) : null;
  const lateAfter = dueRun?.lateAfter ?? null;
  const next = schedule ? nextRun(schedule, now) : null;

  let verdict: Verdict;
  let reason: string;
  if (input.settingsError) {
    verdict = 'failing';
    reason = `the settings cannot be read: ${input.settingsError.message}`;
  } else if (last && failedOf(last)) {
    verdict = 'failing';
    reason = last.killed ? 'the last run was killed before it ended' : `the last run ${last.run.outcome === 'cancelled' ? 'was cancelled' : 'failed'}${last.run.error ? `: ${last.run.error.message}` : ''}`;
  } else if (lateAfter && now.getTime() > lateAfter.getTime()) {
    verdict = 'late';
    const missed = `the run due at ${utcMinute(dueRun!.due)} did not happen (${expected(schedule!)})`;
    reason = success ? `no successful run since ${utcMinute(success.run.start)}; ${missed}` : `never run, although scheduled since ${utcMinute(input.scheduleSince!)}; ${missed}`;
  } else if (!success) {
    verdict = 'never run';
    reason = schedule ? `no run yet; late after ${lateAfter ? utcMinute(lateAfter) : 'the first scheduled run'}` : 'no run yet, and no schedule';
  } else {
    verdict = 'ok';
    reason = `last run ${success.run.outcome === 'warning' ? 'made its backup with warnings (some files skipped)' : 'succeeded'}`;
  }

  return {
    job: input.job.key,
    name: input.job.name,
    settingsFile: input.job.settingsFile ?? null,
    verdict,
    reason,
    running,
    lastRun: last ? summary(last.run, last.killed) : null,
    lastSuccess,
    lastFailure,
    schedule: schedule ? { text: schedule.text, description: schedule.description } : null,
    nextRun: next ? next.toISOString() : null,
    lateAfter: lateAfter ? lateAfter.toISOString() : null,
    destinations,
    lastOther: others.slice(-3),
  };
}

/** 0 when every job is ok, else 1. */
export function statusExitCode(statuses: readonly JobStatus[]): 0 | 1 {
  return statuses.length > 0 && statuses.every((s) => s.verdict === 'ok') ? 0 : 1;
}
