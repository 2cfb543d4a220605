/**
 * The shapes shared by the automation modules: a run history record, a
 * notification event and what sending it did. (DESIGN.md "Automation".)
 */
import type { ErrorCode } from '../errors.js';

/** How a run ended; `running` only in a start record. */
export type RunOutcome = 'ok' | 'warning' | 'failed' | 'cancelled' | 'running';

/** The commands that write history. */
export type HistoryCommand = 'run' | 'wizard' | 'prune' | 'verify';

export interface HistoryDestination {
  name: string;
  type: string;
  ok: boolean;
  location: string;
  bytes?: number;
  error: { code: ErrorCode | string; message: string } | null;
}

/**
 * One line of history.jsonl. A run writes a `start` record when it begins
 * and an `end` record (everything known) when it ends, both with the same
 * `id`; a start without an end is a run that was killed (or is still
 * running: `pid` on `host` says which).
 */
export interface HistoryRecord {
  v: 1;
  type: 'start' | 'end';
  /** Run id, shared by the start and end records. */
  id: string;
  /** JobRef.key */
  job: string;
  /** JobRef.name */
  jobName: string;
  command: HistoryCommand;
  /** What started it: a person (cli), the daemon, a timer/cron line (scheduled). */
  trigger?: 'cli' | 'daemon' | 'scheduled' | 'wizard' | 'ui';
  host: string;
  pid: number;
  /** The boot of `host` the run began in (/proc/sys/kernel/random/boot_id); absent when unreadable. Another boot id: the run died in a reboot. */
  bootId?: string;
  /** ISO 8601 UTC. */
  start: string;
  end: string | null;
  outcome: RunOutcome;
  exitCode: number | null;
  archive: string | null;
  bytes: number | null;
  files: number | null;
  /** Source items skipped (count). */
  skipped: number | null;
  destinations: HistoryDestination[];
  error: { code: ErrorCode | string; message: string; hint?: string } | null;
  /** How each notification of this run went (a failed one is a warning, never the run's outcome). */
  notifications?: NotifyOutcome[];
}

/** What a channel is sent. `start` goes to healthchecks only; `test` to every channel. */
export type NotifyEventKind = 'start' | 'failure' | 'warning' | 'success' | 'late' | 'recovered' | 'test';

export interface NotifyEvent {
  event: NotifyEventKind;
  job: string;
  host: string;
  /** When it happened. */
  at: Date;
  /** The run this is about (failure / warning / success; recovered: the run that recovered). */
  run?: HistoryRecord;
  /** The run's --json result, POSTed as is (plus job, host, event) by the webhook channel. */
  result?: Record<string, unknown>;
  /** late: why ("no successful run since 2026-11-28 02:30, expected every 24 h"); recovered: what it was. */
  reason?: string;
}

export interface NotifyOutcome {
  /** The channel's name (settings `name`, else its type). */
  channel: string;
  type: string;
  event: NotifyEventKind;
  ok: boolean;
  /** Skipped: the channel is not sent this event (its `on`). Not in the list at all then. */
  error?: string;
  attempts?: number;
}
