/**
 * Whether a run recorded without an end is still going. Its start record
 * carries this boot's id (Linux: /proc/sys/kernel/random/boot_id, new at
 * every boot), so a run recorded before a reboot is known dead even when its
 * pid has been given to another process since.
 */
import { readFileSync } from 'node:fs';
import type { HistoryRecord } from './types.js';

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** The boot id in `file`, or undefined when it cannot be read (not Linux, no /proc) or is empty. */
export function readBootId(file: string = BOOT_ID_FILE): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text.length > 0 && text.length <= 64 ? text : undefined;
  } catch {
    return undefined;
  }
}

let cached: { id: string | undefined } | undefined;

/** This boot's id, read once per process. */
export function currentBootId(): string | undefined {
  cached ??= { id: readBootId() };
  return cached.id;
}

/**
 * Whether a run without an end record is still going, seen from this
 * machine (`here`): a run of another host cannot be checked (undefined); a
 * run of this host recorded in another boot died in a reboot, even if its
 * pid is some other process's now (false); else its process decides
 * (`pidAlive`: the pid exists and is the same process). A record or a
 * machine without a boot id: the process alone.
 */
export function runAlive(
  run: Pick<HistoryRecord, 'host' | 'bootId'>,
  here: { host: string; bootId: string | undefined },
  pidAlive: () => boolean | undefined,
): boolean | undefined {
  if (run.host !== here.host) return undefined;
  if (run.bootId !== undefined && here.bootId !== undefined && run.bootId !== here.bootId) return false;
  return pidAlive();
}
