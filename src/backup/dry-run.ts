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
import type { S3Target } from '../storage/s3.js';
import { withRunDetails, type BackupResult, type DestinationOutcome } from './result.js';
import type { CheckedDestinations } from './preflight.js';
import { outcomeExitCode, type SkipCollector } from './skips.js';
import { describeFailedDestinations } from './publish.js';

export interface DryRunInput {
  sources: string[];
  exclude: string[];
  destination?: string;
  s3?: S3Target;
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

  // The name the real run would take now (the first free one in the local folder).
  let fileName = candidateFileName(input.name, input.format.format, 0);
  for (let attempt = 1; checked.local && attempt < 1000; attempt++) {
    const dir = checked.local.dir;
    const taken = await Promise.all(
      [fileName, `${fileName}.partial`, ...SIDECAR_SUFFIXES.map((s) => fileName + s)].map((name) =>
        fs.lstat(path.join(dir, name)).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (!taken.includes(true)) break;
    fileName = candidateFileName(input.name, input.format.format, attempt);
  }
  const localPath = checked.local ? path.join(checked.local.dir, fileName) : undefined;
  const destinations: DestinationOutcome[] = [];
  for (const type of ['local', 's3'] as const) {
    const dropped = checked.dropped.find((d) => d.type === type);
    if (dropped) destinations.push(dropped);
    else if (type === 'local' && localPath) destinations.push({ name: 'local', type, ok: true, location: localPath, bytes: 0, error: null });
    else if (type === 's3' && checked.s3) {
      destinations.push({ name: 's3', type, ok: true, location: `s3://${checked.s3.target.bucket}/${checked.s3.target.prefix}${fileName}`, bytes: 0, error: null });
    }
  }
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
    s3: checked.s3 ? { bucket: checked.s3.target.bucket, key: `${checked.s3.target.prefix}${fileName}` } : null,
    destinations,
    error: checked.dropped.length > 0 ? describeFailedDestinations(destinations, true) : null,
    durationMs: Math.round(performance.now() - input.started),
  };
}
