/**
 * Publish (finalize): after the last byte, on every destination that got
 * them all: verify what was stored, write the `.sha256` and the manifest,
 * and only then give the archive its final name. Sidecars first, the
 * archive's rename last: a complete archive never stands under its final
 * name without its sidecars (if a sidecar cannot be written, the archive is
 * not published there and the partial is removed, so nothing unmanaged is
 * left for prune to miss). Remote destinations are published before the
 * local one, so the local manifest records how they went.
 */
import { toBackupError, type BackupError, type ErrorCode } from '../errors.js';
import type { CommitInfo, ArchiveWrite, StoreKind } from '../storage/store.js';
import type { Logger } from '../log/logger-types.js';
import { redactText } from '../log/redact.js';
import { manifestSidecar, sha256Sidecar, type Manifest, type ManifestDestination } from './manifest.js';
import type { DestinationOutcome } from './result.js';

export interface PublishInput {
  /** Every destination the archive was written to, in the run's order. */
  destinations: readonly ArchiveWrite[];
  /** Each write's destination name (settings.json), for the manifest. */
  nameOf: (d: ArchiveWrite) => string;
  /** Destinations that already failed (while writing), with why. */
  failures: Map<ArchiveWrite, BackupError>;
  fileName: string;
  info: CommitInfo;
  /** The manifest, given what it records about the destinations. */
  manifest: (destinations: ManifestDestination[]) => Manifest;
  logger: Logger;
  signal: AbortSignal;
}

/** Publishes where it can; returns the published locations. Failures are added to `input.failures`. */
export async function publishAll(input: PublishInput): Promise<Map<ArchiveWrite, string>> {
  const { destinations, failures, signal } = input;
  const fail = (d: ArchiveWrite, error: unknown): void => {
    if (signal.aborted) throw signal.reason;
    failures.set(d, toBackupError(error, signal));
  };
  // Every destination's check at once: the local read-back (seconds per GB) overlaps the remotes'
  // size checks instead of adding to them. Publishing stays one by one, local last, so each
  // manifest records how the others went.
  const verified = await Promise.allSettled(destinations.map((d) => (failures.has(d) ? Promise.resolve() : d.verify(input.info, signal))));
  verified.forEach((outcome, i) => {
    if (outcome.status === 'rejected') fail(destinations[i]!, outcome.reason);
  });
  const published = new Map<ArchiveWrite, string>();
  const order = [...destinations].sort((a, b) => Number(a.kind === 'local') - Number(b.kind === 'local'));
  for (const d of order) {
    if (failures.has(d)) continue;
    const manifest = input.manifest(
      destinations.map((other) =>
        failures.has(other)
          ? { name: input.nameOf(other), kind: other.kind, location: other.label, ok: false, error: redactText(failures.get(other)!.message) }
          : { name: input.nameOf(other), kind: other.kind, location: other.location(), ok: true },
      ),
    );
    try {
      await d.writeSidecars([sha256Sidecar(input.fileName, input.info.sha256), manifestSidecar(manifest)], signal);
      // Ctrl-C after the last byte still cancels: nothing more is published from here on.
      signal.throwIfAborted();
      published.set(d, (await d.publish(input.info, signal)).location);
    } catch (error) {
      fail(d, error);
    }
  }
  // Whatever was not published goes: partial archive, sidecars, unfinished uploads.
  for (const d of destinations) {
    if (!published.has(d)) await d.abort().catch((cleanup: unknown) => input.logger.error(`could not clean up ${d.label}: ${String(cleanup)}`));
  }
  return published;
}

const DESTINATION_NAMES: Record<StoreKind, string> = { local: 'Local folder', s3: 'S3', azure: 'Azure', sftp: 'SFTP', rclone: 'rclone' };

/** `S3 destination s3://b/k`, or with a name of its own: `S3 destination "cloud" (s3://b/k)`. */
function destinationWords(o: DestinationOutcome): string {
  return o.name === o.type ? `${DESTINATION_NAMES[o.type]} destination ${o.location}` : `${DESTINATION_NAMES[o.type]} destination "${o.name}" (${o.location})`;
}

/**
 * The run's `error` when some destination failed: names each failed one and
 * why, then where the backup is safe.
 */
export function describeFailedDestinations(outcomes: readonly DestinationOutcome[], dryRun = false): { code: ErrorCode; message: string } {
  const failed = outcomes.filter((o) => !o.ok);
  const first = failed[0];
  if (!first?.error) return { code: 'DESTINATION_FAILED', message: 'A destination failed.' };
  const parts = failed.map((o) => `${destinationWords(o)} failed: ${o.error?.message ?? 'unknown error'}`);
  const safe = outcomes
    .filter((o) => o.ok)
    .map((o) =>
      dryRun
        ? ` The backup would still be written to ${o.location}.`
        : o.type === 'local'
          ? ` The local copy${o.name === o.type ? '' : ` "${o.name}"`} is complete and verified: ${o.location}.`
          : ` The copy on ${DESTINATION_NAMES[o.type]}${o.name === o.type ? '' : ` "${o.name}"`} is complete: ${o.location}.`,
    );
  return { code: first.error.code, message: `${parts.join(' ')}${safe.join('')}` };
}
