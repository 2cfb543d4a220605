/**
 * `backup daemon`: an in-process scheduler for places without cron or
 * systemd (containers). Each job (a settings file with a `schedule`) is run
 * at its times by croner as a child process, `backup run --config FILE`, so
 * a crash, a leak or a hung destination in one run never takes the daemon
 * down, and the run is exactly the one cron would start (its lock, its
 * history, its notifications). The children's output is relayed line by
 * line with a `[job]` prefix.
 *
 * - Never two runs of one job at once: a tick while the job's run is still
 *   going is skipped (and said); a run started elsewhere (cron, a person)
 *   is refused by the job lock, and that child's exit 1 is logged.
 * - A failing run (any exit code, a crash, a spawn error) is logged; the
 *   daemon goes on.
 * - The missed-run check (`backup status --alert`) runs once shortly after
 *   the start and then every hour.
 * - When `signal` aborts: no new runs, SIGTERM to every running child (a
 *   run cancels as on Ctrl-C: partial files removed), wait for them up to
 *   STOP_GRACE_MS (longer than a run's own 60 s clean-up), then SIGKILL the
 *   process group of any still there, so the daemon never leaves a child
 *   running behind it.
 *
 * Children get their own process group, so a Ctrl-C in the terminal reaches
 * the daemon only, which forwards one SIGTERM (a second signal would make
 * the child leave without its clean-up).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Cron } from 'croner';
import { oneLine } from '../log/printable.js';
import type { Schedule } from './schedule.js';

export interface DaemonJob {
  /** For people, and the `[name]` prefix of the relayed lines (unique among the jobs). */
  name: string;
  /** Absolute path of the settings file. */
  settingsFile: string;
  schedule: Schedule;
}

export interface DaemonOptions {
  jobs: readonly DaemonJob[];
  /** The node binary and the CLI's dist/bin.js. */
  execPath: string;
  bin: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborted: stop scheduling, cancel the running children, return once they have ended. */
  signal: AbortSignal;
  /** The daemon's own lines (run started, finished, skipped, failed). */
  say: (level: 'info' | 'warn' | 'error', line: string) => void;
  /** A child's output line, already prefixed and escaped; `stream` is where the child wrote it. */
  relay: (stream: 'stdout' | 'stderr', line: string) => void;
  /** The missed-run check: first after this long (default 1 minute), then every `checkEveryMs` (default 1 hour). */
  checkFirstMs?: number;
  checkEveryMs?: number;
  /** How a time is shown (default ISO 8601). */
  formatTime?: (date: Date) => string;
  /** After the abort, how long the children get to end on SIGTERM before their process groups are SIGKILLed (default STOP_GRACE_MS). */
  stopGraceMs?: number;
  /**
   * Receives a function that SIGKILLs every running child's process group at
   * once (synchronous), for a caller that must leave before the wait is over.
   */
  onKillAll?: (killAll: () => void) => void;
}

/** The environment variable that tells a run who started it (recorded in the history). */
export const TRIGGER_ENV = 'BACKUP_TRIGGER';

export const CHECK_FIRST_MS = 60_000;
export const CHECK_EVERY_MS = 60 * 60_000;
/** After SIGTERM, how long the children may take: longer than a run's own 60 s clean-up (bin.ts CANCEL_GRACE_MS). */
export const STOP_GRACE_MS = 90_000;

/** What an exit code means, for the "finished" line. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  switch (code) {
    case 0:
      return 'exit 0: ok';
    case 1:
      return 'exit 1: failed (or another run of the job holds its lock)';
    case 2:
      return 'exit 2: usage or configuration error';
    case 3:
      return 'exit 3: backup made, some source files could not be read';
    case 130:
      return 'exit 130: cancelled';
    default:
      return `exit ${code}`;
  }
}

/** Runs the jobs at their times until `signal` aborts, then cancels the running children and waits for them. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { signal, say } = options;
  const running = new Map<string, ChildProcess>();
  // The runs still going, each dropped once it has ended (a daemon runs for months).
  const ended = new Set<Promise<void>>();
  let stopping = signal.aborted;

  /** Starts a child; resolves when it has ended (never rejects). */
  const start = (key: string, label: string, args: string[], what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> => {
    let child: ChildProcess;
    try {
      child = spawn(options.execPath, [options.bin, ...args], {
        cwd: options.cwd,
        env: { ...options.env, [TRIGGER_ENV]: 'daemon' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (error) {
      say('error', `${what} could not be started: ${error instanceof Error ? error.message : String(error)}`);
      return Promise.resolve(undefined);
    }
    running.set(key, child);
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]!, crlfDelay: Infinity }).on('line', (line) => options.relay(stream, `[${label}] ${oneLine(line)}`));
    }
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>((resolve) => {
      child.once('error', (error) => {
        running.delete(key);
        say('error', `${what} could not be started: ${error.message}`);
        resolve(undefined);
      });
      child.once('close', (code, killedBy) => {
        running.delete(key);
        resolve({ code, signal: killedBy });
      });
    });
    const settled: Promise<void> = done.then(() => {
      ended.delete(settled);
    });
    ended.add(settled);
    return done;
  };

  const runJob = (job: DaemonJob): void => {
    if (stopping) return;
    const key = `job:${job.settingsFile}`;
    const busy = running.get(key);
    if (busy) {
      say('warn', `${job.name}: still running (pid ${busy.pid}) at its next time; this run is skipped`);
      return;
    }
    const started = Date.now();
    const done = start(key, job.name, ['run', '--config', job.settingsFile], `${job.name}: the run`);
    const pid = running.get(key)?.pid;
    if (pid !== undefined) say('info', `${job.name}: run started (pid ${pid})`);
    void done.then((end) => {
      if (!end) return;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const level = end.code === 0 ? 'info' : end.code === 3 || (stopping && end.code === 130) ? 'warn' : 'error';
      const next = stopping ? undefined : crons.get(job.settingsFile)?.nextRun();
      say(level, `${job.name}: run finished after ${seconds} s, ${describeExit(end.code, end.signal)}${next ? `; next run ${(options.formatTime ?? ((d: Date) => d.toISOString()))(next)}` : ''}`);
    });
  };

  const runCheck = (): void => {
    if (stopping) return;
    if (running.has('check')) return;
    const args = ['status', '--alert', ...options.jobs.flatMap((job) => ['--config', job.settingsFile])];
    void start('check', 'check', args, 'the missed-run check (backup status --alert)').then((end) => {
      if (!end) return;
      // status exits 0 only when every job is ok; anything else is what it printed.
      if (stopping && end.code !== 0) say('info', 'missed-run check: cancelled (stopping)');
      else if (end.code === 0) say('info', 'missed-run check: every job is ok');
      else say('warn', `missed-run check: ${describeExit(end.code, end.signal)} (see the [check] lines)`);
    });
  };

  /** SIGKILL to the whole process group of each running child (each has its own: detached). */
  const killAll = (): void => {
    for (const child of running.values()) {
      if (child.pid === undefined) continue;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  options.onKillAll?.(killAll);

  const crons = new Map<string, Cron>();
  if (!stopping) {
    for (const job of options.jobs) {
      crons.set(job.settingsFile, new Cron(job.schedule.cron, { mode: '5-or-6-parts' }, () => runJob(job)));
    }
  }
  let checkTimer: NodeJS.Timeout | undefined = stopping
    ? undefined
    : setTimeout(function check() {
        runCheck();
        checkTimer = setTimeout(check, options.checkEveryMs ?? CHECK_EVERY_MS);
      }, options.checkFirstMs ?? CHECK_FIRST_MS);

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopping = true;
  for (const cron of crons.values()) cron.stop();
  clearTimeout(checkTimer);
  if (running.size > 0) say('info', `stopping: cancelling ${running.size} running ${running.size === 1 ? 'child' : 'children'}`);
  for (const child of running.values()) child.kill('SIGTERM');
  const grace = options.stopGraceMs ?? STOP_GRACE_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    Promise.all([...ended]).then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), grace);
    }),
  ]);
  clearTimeout(timer);
  if (late && running.size > 0) {
    const pids = [...running.values()].map((child) => child.pid).join(', ');
    say('warn', `stopping: ${running.size === 1 ? 'a child' : 'children'} (pid ${pids}) still running ${Math.round(grace / 1000)} s after SIGTERM; killing ${running.size === 1 ? 'its process group' : 'their process groups'} (SIGKILL)`);
    killAll();
  }
  await Promise.all([...ended]);
}
