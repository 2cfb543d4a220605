/**
 * What a notification says: a subject ("backup FAILED: www on host1"), a
 * one-line summary (Slack's first line, healthchecks' body, the webhook's
 * `text`) and a plain-text body with what a person needs without opening the
 * log: job, host, outcome, when and how long, archive name and size, each
 * destination with its outcome, and for a failure the error and its hint;
 * for a missed run why it is late; for a recovery what it recovered from.
 * Every name and message is made printable (control characters escaped).
 * Pure: the event carries its time.
 */
import { redactText } from '../../log/redact.js';
import { formatBytes, formatDuration } from '../../cli/format-bytes.js';
import { oneLine, printable } from '../../log/printable.js';
import type { HistoryRecord, NotifyEvent, NotifyEventKind } from '../types.js';

export interface NotifyMessage {
  /** Mail subject and the title line elsewhere. */
  subject: string;
  /** One line: the subject plus the one thing to know (error, archive). */
  summary: string;
  /** Plain text, several lines, ending with a newline. */
  body: string;
}

/** "2026-11-30 02:30:05 UTC": one time zone for everyone reading an alert. */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const MAX_SUBJECT_REASON = 120;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const OUTCOME_WORD: Record<NotifyEventKind, string> = {
  failure: 'FAILED',
  warning: 'warning',
  success: 'ok',
  late: 'late',
  recovered: 'recovered',
  test: 'test message',
  start: 'started',
};

function skippedCount(run: HistoryRecord | undefined, result: Record<string, unknown> | undefined): number | undefined {
  if (run?.skipped !== null && run?.skipped !== undefined) return run.skipped;
  const skipped = result?.skipped;
  return Array.isArray(skipped) ? skipped.length : undefined;
}

function subjectOf(event: NotifyEvent, job: string, host: string): string {
  // A verify that found a damaged backup says so: it is not the nightly run that failed.
  const what = event.run?.command === 'verify' ? 'backup verify' : 'backup';
  const base = `${what} ${OUTCOME_WORD[event.event]}: ${job} on ${host}`;
  const skipped = skippedCount(event.run, event.result);
  switch (event.event) {
    case 'warning':
      return skipped ? `${base} (${skipped} item${skipped === 1 ? '' : 's'} skipped)` : base;
    case 'late':
    case 'recovered':
      return event.reason ? `${base} (${clip(oneLine(event.reason), MAX_SUBJECT_REASON)})` : base;
    default:
      return base;
  }
}

function runError(event: NotifyEvent): { code?: string; message: string; hint?: string } | undefined {
  if (event.run?.error) return event.run.error;
  const error = event.result?.error;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    const e = error as { code?: unknown; message: string; hint?: unknown };
    return { code: typeof e.code === 'string' ? e.code : undefined, message: e.message, hint: typeof e.hint === 'string' ? e.hint : undefined };
  }
  return undefined;
}

interface ArchiveInfo {
  name: string | null;
  bytes: number | null;
  files: number | null;
}

function archiveOf(event: NotifyEvent): ArchiveInfo {
  const run = event.run;
  const result = event.result;
  const name = run?.archive ?? (typeof result?.archive === 'string' ? result.archive : null);
  // A failed run may have no archive size of its own while a destination holds a complete copy.
  const stored = (run?.destinations ?? []).map((d) => d.bytes ?? 0).filter((b) => b > 0);
  const bytes = run?.bytes ?? (typeof result?.bytes === 'number' && result.bytes > 0 ? result.bytes : stored.length > 0 ? Math.max(...stored) : null);
  const files = run?.files ?? (typeof result?.files === 'number' ? result.files : null);
  return { name, bytes, files };
}

interface DestinationLine {
  name: string;
  ok: boolean;
  location: string;
  error: string | null;
}

function destinationsOf(event: NotifyEvent): DestinationLine[] {
  const list: unknown = event.run?.destinations ?? event.result?.destinations;
  if (!Array.isArray(list)) return [];
  return list.flatMap((d: unknown) => {
    if (!d || typeof d !== 'object') return [];
    const dest = d as { name?: unknown; ok?: unknown; location?: unknown; error?: unknown };
    const error = dest.error && typeof dest.error === 'object' ? (dest.error as { message?: unknown }).message : undefined;
    return [
      {
        name: typeof dest.name === 'string' ? dest.name : '?',
        ok: dest.ok === true,
        location: typeof dest.location === 'string' ? dest.location : '',
        error: typeof error === 'string' ? error : null,
      },
    ];
  });
}

function durationOf(event: NotifyEvent): number | undefined {
  const run = event.run;
  if (run?.start && run.end) {
    const ms = Date.parse(run.end) - Date.parse(run.start);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  const ms = event.result?.durationMs;
  return typeof ms === 'number' && ms >= 0 ? ms : undefined;
}

/** The archive's file name only: a whole local path says little in an alert and may be long. */
function archiveName(name: string): string {
  return name.split(/[\\/]/).at(-1) || name;
}

export function buildMessage(event: NotifyEvent): NotifyMessage {
  const job = printable(event.job);
  const host = printable(event.host);
  const subject = subjectOf(event, job, host);
  const lines: string[] = [subject.replace(/^backup /, 'Backup '), ''];
  const error = runError(event);
  const archive = archiveOf(event);
  const destinations = destinationsOf(event);
  const duration = durationOf(event);
  const skipped = skippedCount(event.run, event.result);

  lines.push(`Job:      ${job}`, `Host:     ${host}`);
  const when = event.run?.start ? new Date(event.run.start) : event.at;
  if (event.event === 'late' || event.event === 'test') lines.push(`Checked:  ${formatUtc(event.at)}`);
  else lines.push(`When:     ${formatUtc(Number.isNaN(when.getTime()) ? event.at : when)}${duration !== undefined ? ` (took ${formatDuration(duration)})` : ''}`);
  if (event.event === 'late' && event.reason) lines.push(`Why:      ${oneLine(event.reason)}`);
  if (event.event === 'late' && event.run) {
    const start = new Date(event.run.start);
    if (!Number.isNaN(start.getTime())) lines.push(`Last run: ${formatUtc(start)}, ${event.run.outcome}`);
  }
  if (event.event === 'recovered' && event.reason) lines.push(`Was:      ${oneLine(event.reason)}`);
  if (event.event === 'test') lines.push('', oneLine(event.reason ?? 'This is a test message: alerts of this job will arrive here.'));
  if (error && (event.event === 'failure' || event.event === 'warning' || event.event === 'recovered' || event.event === 'late')) {
    lines.push(`Error:    ${oneLine(error.message)}${error.code ? ` [${oneLine(error.code)}]` : ''}`);
    if (error.hint) lines.push(`Hint:     ${oneLine(error.hint)}`);
  }
  if (archive.name) {
    const size = archive.bytes !== null ? ` (${formatBytes(archive.bytes)}${archive.files !== null ? `, ${archive.files} file${archive.files === 1 ? '' : 's'}` : ''})` : '';
    lines.push(`Archive:  ${printable(archiveName(archive.name))}${size}`);
  }
  if (skipped) lines.push(`Skipped:  ${skipped} item${skipped === 1 ? '' : 's'} could not be read (see the log)`);
  if (destinations.length > 0) {
    lines.push('Destinations:');
    const width = Math.max(...destinations.map((d) => printable(d.name).length));
    for (const d of destinations) {
      const where = d.location ? printable(d.location) : '';
      const why = !d.ok && d.error ? `${where ? ': ' : ''}${oneLine(d.error)}` : '';
      lines.push(`  ${printable(d.name).padEnd(width)}  ${(d.ok ? 'ok' : 'FAILED').padEnd(6)}  ${where}${why}`.trimEnd());
    }
  }
  // The exit code of the run the message is about (not of an earlier run a late alert mentions).
  const aboutThisRun = event.event === 'failure' || event.event === 'warning' || event.event === 'success';
  if (aboutThisRun && event.run?.exitCode !== null && event.run?.exitCode !== undefined) lines.push(`Exit code: ${event.run.exitCode}`);
  if (event.event === 'late') lines.push('', `Check on ${host}: \`backup status\` (last runs and why) and \`backup schedule list\` (is the timer or cron line still there?).`);

  let detail: string | undefined;
  if (event.event === 'failure' && error) detail = `${oneLine(error.message)}${error.hint ? ` (${oneLine(error.hint)})` : ''}`;
  else if (event.event === 'late' && event.reason) detail = undefined; // already in the subject
  else if ((event.event === 'success' || event.event === 'warning') && archive.name) {
    detail = `${printable(archiveName(archive.name))}${archive.bytes !== null ? ` (${formatBytes(archive.bytes)})` : ''}`;
  }
  const summary = clip(detail ? `${subject}: ${detail}` : subject, 500);
  // Error messages and locations may quote a credential (a URL with user:password, a key id):
  // redacted here as they are on the terminal and in the log.
  return { subject: redactText(subject), summary: redactText(summary), body: redactText(`${lines.join('\n')}\n`) };
}
