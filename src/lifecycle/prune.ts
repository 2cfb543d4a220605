/**
 * `backup prune`: apply a retention policy (retention.ts, restic's `forget`
 * semantics) to the backups of ONE job in a destination, and delete the
 * others with their sidecars.
 *
 * A backup belongs to the job when its manifest names the same name template,
 * the same sources and the same host. Unmanaged archives (no manifest) and
 * other jobs' backups are listed but never touched. An archive is deleted
 * before its sidecars, so an interrupted prune leaves at worst sidecars
 * without an archive, which the next prune of the job removes.
 */
import type { Store } from '../storage/store.js';
import type { Logger } from '../log/logger-types.js';
import { BackupError } from '../errors.js';
import { applyRetention, type RetentionPolicy, type RetentionOptions } from './retention.js';
import { loadCatalog, readManifest, type Catalog, type CatalogEntry, type StoredManifest } from './catalog.js';

/** Sidecars after the archive, the manifest last: it is what ties leftovers to their job. */
const DELETE_ORDER = ['.sha256', '.verified.json', '.manifest.json'] as const;

export interface JobIdentity {
  nameTemplate: string;
  /** Absolute source paths. */
  sources: string[];
  host: string;
}

export type PruneAction = 'keep' | 'remove' | 'ignore';

export interface PrunePlanItem {
  archive: string;
  created: Date;
  action: PruneAction;
  /** keep: the rules that keep it; ignore: why it is not this job's. */
  reasons: string[];
  /** Files to delete (archive first, then sidecars). */
  files: string[];
}

function sameSources(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((value, i) => value === y[i]);
}

/** Why a manifest is not this job's, or undefined when it is. */
export function otherJobReason(manifest: StoredManifest, job: JobIdentity): string | undefined {
  if (manifest.nameTemplate !== job.nameTemplate) return `another job (name template ${manifest.nameTemplate})`;
  if (!sameSources(manifest.sources, job.sources)) return `another job (sources ${manifest.sources.join(', ')})`;
  if (manifest.host !== job.host) return `another host (${manifest.host})`;
  return undefined;
}

/** Pure: what a prune of `job` with `policy` would do to the backups in `catalog` (newest first). */
export function planPrune(catalog: Catalog, job: JobIdentity, policy: RetentionPolicy, options: RetentionOptions = {}): PrunePlanItem[] {
  const ours: CatalogEntry[] = [];
  const plan: PrunePlanItem[] = [];
  for (const backup of catalog.backups) {
    const reason = backup.manifest ? otherJobReason(backup.manifest, job) : `unmanaged: ${backup.unmanagedReason ?? 'no manifest'}`;
    if (reason) plan.push({ archive: backup.archive, created: backup.created, action: 'ignore', reasons: [reason], files: [] });
    else ours.push(backup);
  }
  for (const decision of applyRetention(
    ours.map((b) => ({ time: b.created, backup: b })),
    policy,
    options,
  )) {
    const { backup } = decision.item;
    plan.push({
      archive: backup.archive,
      created: backup.created,
      action: decision.keep ? 'keep' : 'remove',
      reasons: decision.reasons,
      files: decision.keep ? [] : [backup.archive, ...DELETE_ORDER.map((s) => `${backup.archive}${s}`).filter((n) => backup.sidecars.includes(n))],
    });
  }
  return plan.sort((a, b) => b.created.getTime() - a.created.getTime());
}

export interface PruneResult {
  plan: PrunePlanItem[];
  removed: string[];
  /** Sidecars of this job left without their archive, removed too. */
  orphansRemoved: string[];
  failed: Array<{ file: string; error: string }>;
}

/** Deletes what the plan says (nothing with dryRun); keeps going past a failed delete and reports it. */
export async function executePrune(
  store: Store,
  catalog: Catalog,
  plan: PrunePlanItem[],
  job: JobIdentity,
  options: { dryRun: boolean; signal?: AbortSignal; logger: Logger },
): Promise<PruneResult> {
  const result: PruneResult = { plan, removed: [], orphansRemoved: [], failed: [] };
  /** Deletes one file; false (reported) if it could not be. */
  const remove = async (file: string, into: string[]): Promise<boolean> => {
    if (options.dryRun) return true;
    try {
      await store.remove(file, options.signal);
      into.push(file);
      options.logger.info(`prune: deleted ${store.locationOf(file)}`);
      return true;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const message = error instanceof BackupError ? error.message : String(error);
      result.failed.push({ file, error: message });
      options.logger.error(`prune: could not delete ${store.locationOf(file)}: ${message}`);
      return false;
    }
  };
  for (const item of plan) {
    if (item.action !== 'remove') continue;
    // In order, stopping at the first failure: an archive that stays keeps its manifest, so it
    // is still this job's and the next prune tries again.
    for (const file of item.files) if (!(await remove(file, result.removed))) break;
  }
  for (const [archive, sidecars] of catalog.orphans) {
    const { manifest } = await readManifest(store, archive, options.signal).catch(() => ({ manifest: undefined }));
    // Without a manifest of this job there is no telling whose they are: left alone.
    if (!manifest || otherJobReason(manifest, job)) continue;
    // The manifest last, as for a whole backup.
    const ordered = [...sidecars].sort((a, b) => Number(a.endsWith('.manifest.json')) - Number(b.endsWith('.manifest.json')));
    for (const file of ordered) if (!(await remove(file, result.orphansRemoved))) break;
  }
  return result;
}

export interface StorePruneResult extends PruneResult {
  location: string;
  store: Store;
}

/** Plans and executes a prune of `job` on each store in turn. */
export async function pruneStores(
  stores: readonly Store[],
  job: JobIdentity,
  policy: RetentionPolicy,
  options: { dryRun: boolean; signal?: AbortSignal; logger: Logger; timeZone?: RetentionOptions['timeZone'] },
): Promise<StorePruneResult[]> {
  const results: StorePruneResult[] = [];
  for (const store of stores) {
    const catalog = await loadCatalog(store, options.signal);
    const plan = planPrune(catalog, job, policy, { timeZone: options.timeZone });
    for (const item of plan) {
      if (item.action !== 'ignore') options.logger.info(`prune${options.dryRun ? ' (dry run)' : ''}: ${item.action} ${store.locationOf(item.archive)}${item.reasons.length ? ` (${item.reasons.join(', ')})` : ''}`);
    }
    results.push({ location: store.label, store, ...(await executePrune(store, catalog, plan, job, options)) });
  }
  return results;
}
