/**
 * The open incidents of the jobs logging to one folder (JobRef.alertStateFile,
 * `alerts.json` beside the history): per job, at most one incident, `late` or
 * `failing`, with when it began and when it was alerted. It is what makes a
 * missed-run check send one alert per incident, not one per check, and one
 * "recovered" when the job is ok again.
 *
 * Written atomically (a temporary file in the same folder, then rename) and
 * never through a symbolic link. Two writers at the same moment (a run
 * ending while `backup status --alert` runs) may lose one update: the next
 * check sees the incident again and at worst alerts it a second time.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs/write-atomic.js';
import { ensureDir } from '../fs/ensure-dir.js';
import { readSmallFile } from '../fs/read-small-file.js';

export type IncidentKind = 'late' | 'failing';

export interface Incident {
  kind: IncidentKind;
  /** ISO 8601 UTC: when it was first seen. */
  since: string;
  /** When it was alerted; null while no channel has taken the alert yet (the next check tries again). */
  alertedAt: string | null;
  /** Why, as the alert said it. */
  reason?: string;
}

export interface AlertState {
  v: 1;
  /** By JobRef.key. */
  jobs: Record<string, { incident: Incident | null; updatedAt: string }>;
}

const MAX_STATE_BYTES = 256 * 1024;

export function emptyAlertState(): AlertState {
  return { v: 1, jobs: {} };
}

/** The state in `file`; a missing or unreadable one is empty (the worst case is one alert sent again). */
export async function readAlertState(file: string): Promise<AlertState> {
  const stat = await fs.lstat(file).catch(() => undefined);
  if (stat?.isSymbolicLink()) throw new Error(`${file} is a symbolic link; the alert state is not read through it`);
  let read;
  try {
    read = await readSmallFile(file, { maxBytes: MAX_STATE_BYTES, noFollow: true });
  } catch {
    return emptyAlertState();
  }
  if (!read) return emptyAlertState();
  try {
    const value = JSON.parse(read.text) as Partial<AlertState>;
    if (value && value.v === 1 && value.jobs && typeof value.jobs === 'object') return { v: 1, jobs: value.jobs };
  } catch {
    // Cut or foreign: start again.
  }
  return emptyAlertState();
}

/** Replaces `file` with `state`: temp file (O_EXCL, no symlink followed) + rename. */
export async function writeAlertState(file: string, state: AlertState): Promise<void> {
  const stat = await fs.lstat(file).catch(() => undefined);
  if (stat?.isSymbolicLink()) throw new Error(`${file} is a symbolic link; the alert state is not written through it`);
  if (stat && !stat.isFile()) throw new Error(`${file} is not a regular file; the alert state is not written to it`);
  await ensureDir(path.dirname(file), 0o755);
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, 0o640);
}

/** Reads the state, lets `change` update this job's incident, writes it back when it changed. */
export async function updateIncident(
  file: string,
  jobKey: string,
  now: Date,
  change: (incident: Incident | null) => Incident | null,
): Promise<{ before: Incident | null; after: Incident | null }> {
  const state = await readAlertState(file);
  const before = state.jobs[jobKey]?.incident ?? null;
  const after = change(before);
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    state.jobs[jobKey] = { incident: after, updatedAt: now.toISOString() };
    await writeAlertState(file, state);
  }
  return { before, after };
}

/** What one check does about one job. Pure. */
export interface AlertDecision {
  /** The event to send, if any. */
  send: 'late' | 'failure' | 'recovered' | null;
  /** The incident as it stands once the event is sent (alertedAt set by the caller when a channel took it). */
  next: Incident | null;
}

/**
 * One alert per incident: a job `late` or `failing` with no open incident of
 * that kind opens one and sends `late` / `failure`; the same incident on the
 * next check sends nothing (unless no channel took the alert last time);
 * `ok` again closes it with one `recovered`. `never run` (no schedule, no
 * run) changes nothing.
 */
export function decideAlert(verdict: 'ok' | 'late' | 'failing' | 'never run', incident: Incident | null, now: Date, reason?: string): AlertDecision {
  if (verdict === 'ok') return { send: incident ? 'recovered' : null, next: null };
  if (verdict === 'never run') return { send: null, next: incident };
  const kind: IncidentKind = verdict;
  const event = kind === 'late' ? 'late' : 'failure';
  if (incident?.kind === kind) return { send: incident.alertedAt === null ? event : null, next: incident };
  return { send: event, next: { kind, since: now.toISOString(), alertedAt: null, ...(reason ? { reason } : {}) } };
}
