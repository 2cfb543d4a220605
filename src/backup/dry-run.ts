/**
 * The dry run: the same preflight and the same walk (walk.ts, the same
 * options, the same skip collector and --strict rule) as the real run, with
 * nothing written; it predicts the real run's exit code and result.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeErrno } from '../errors.js';
import { candidateFileName } from '../archive/naming.js';
import { walk, type Entry } from '../archive/walk.js';
import type { Format } from '../archive/formats.js';
import { SIDECAR_SUFFIXES } from '../storage/store.js';
import type { Store } from '../storage/store.js';
import { withRunDetails, type BackupResult, type DestinationOutcome } from './result.js';
import type { CheckedDestinations } from './preflight.js';
import { outcomeExitCode, type SkipCollector } from './skips.js';
import { describeFailedDestinations } from './publish.js';

export interface DryRunInput {
  sources: string[];
  exclude: string[];
  /** Every destination of the run, in order (checked.live are those that passed their check). */
  stores: readonly Store[];
  name: string;
  format: { format: Format; requested: string };
  skipInodes: Set<string>;
  skips: SkipCollector;
  warnings: string[];
  checked: CheckedDestinations;
  /** The run's signal, aborted by Ctrl-C and by the first skip under --strict. */
  signal: AbortSignal;
  cwd: string;
  started: number;
  onEntry?: (entry: Entry) => void;
  displayPath: (absolute: string) => string;
}

export async function dryRun(input: DryRunInput): Promise<BackupResult> {
  const { skips, checked } = input;
  let files = 0;
  let bytes = 0;
  try {
    for await (const entry of walk({ sources: input.sources, exclude: input.exclude, skipInodes: input.skipInodes, onSkip: skips.onSkip, signal: input.signal })) {
      if (entry.kind === 'file') {
        // Report what the real run would skip, without reading anything.
        try {
          await fs.access(entry.absPath, fs.constants.R_OK);
        } catch (error) {
          skips.onSkip({ path: entry.absPath, reason: describeErrno(error) });
          if (skips.strictFailure) break;
          continue;
        }
        files += 1;
        bytes += entry.stat.size;
      }
      input.onEntry?.(entry);
    }
  } catch (error) {
    if (!skips.strictFailure) throw error;
  }
  if (skips.strictFailure) {
    throw withRunDetails(skips.strictFailure, { skipped: skips.skipped, warnings: input.warnings, destinations: checked.dropped, dryRun: true });
  }

  // The name the real run would take now: the first one free on every destination.
  let fileName = candidateFileName(input.name, input.format.format, 0);
  for (let attempt = 1; attempt < 1000; attempt++) {
    const taken = await Promise.all(checked.live.map((store) => nameTaken(store, fileName, input.signal)));
    if (!taken.includes(true)) break;
    fileName = candidateFileName(input.name, input.format.format, attempt);
  }
  const dropped = new Set(checked.dropped.map((d) => d.name));
  const destinations: DestinationOutcome[] = [];
  for (const store of input.stores) {
    if (dropped.has(store.name)) destinations.push(checked.dropped.find((d) => d.name === store.name)!);
    else destinations.push({ name: store.name, type: store.kind, ok: true, location: store.locationOf(fileName), bytes: 0, error: null });
  }
  const local = checked.live.find((store) => store.kind === 'local');
  const localPath = local?.locationOf(fileName);
  const s3Url = checked.live.filter((store) => store.kind === 's3').map((store) => /^s3:\/\/([^/]+)\/(.+)$/.exec(store.locationOf(fileName)))[0];
  const exitCode = outcomeExitCode(checked.dropped.length, skips.skipped.length);
  return {
    ok: checked.dropped.length === 0,
    exitCode,
    dryRun: true,
    archive: localPath ? input.displayPath(localPath) : null,
    format: input.format.format,
    requestedFormat: input.format.requested,
    bytes: 0,
    sha256: null,
    files,
    sourceBytes: bytes,
    skipped: skips.skipped,
    warnings: input.warnings,
    s3: s3Url ? { bucket: s3Url[1]!, key: s3Url[2]! } : null,
    destinations,
    error: checked.dropped.length > 0 ? describeFailedDestinations(destinations, true) : null,
    durationMs: Math.round(performance.now() - input.started),
  };
}

/** Whether `fileName` (or its partial or a sidecar) already exists on `store`. */
async function nameTaken(store: Store, fileName: string, signal: AbortSignal): Promise<boolean> {
  const names = [fileName, `${fileName}.partial`, ...SIDECAR_SUFFIXES.map((s) => fileName + s)];
  if (store.folder !== undefined) {
    const folder = store.folder;
    // lstat: a dangling link takes the name too.
    const found = await Promise.all(names.map((name) => fs.lstat(path.join(folder, name)).then(() => true, () => false)));
    return found.includes(true);
  }
  const found = await Promise.all(names.map((name) => store.stat(name, signal).then((stat) => stat !== undefined, () => false)));
  return found.includes(true);
}
