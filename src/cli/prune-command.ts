/**
 * `backup prune`: apply a retention policy (flags, or settings.json's
 * `retention`) to one job's backups in its destinations; `--dry-run` says
 * what would go. Holds the job's lock, as `backup run` does.
 */
import { ExitCode, UsageError } from '../errors.js';
import { DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import { describePolicy, isEmptyPolicy, parseDuration, type RetentionPolicy } from '../lifecycle/retention.js';
import { pruneStores, type JobIdentity, type StorePruneResult } from '../lifecycle/prune.js';
import type { CliIO } from './io.js';
import { localDateTime, runCommandFrame, type CommandContext, type CommandOutput, type CommonFlags } from './command-runner.js';
import { effectiveFor, resolveStores, type StoreFlags } from './stores.js';
import { parseWait, withJobLock } from './job-lock.js';
import { oneLine, printable } from '../log/printable.js';
import { recordCommand } from './run-history.js';

export interface PruneFlags extends CommonFlags, StoreFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  dryRun?: boolean;
  source?: string[];
  name?: string;
  wait?: boolean | string;
}

const COUNT_FLAGS = [
  ['keepLast', '--keep-last'],
  ['keepHourly', '--keep-hourly'],
  ['keepDaily', '--keep-daily'],
  ['keepWeekly', '--keep-weekly'],
  ['keepMonthly', '--keep-monthly'],
  ['keepYearly', '--keep-yearly'],
] as const;

/** The policy from the flags when any is given, else from the settings. */
export function policyFrom(flags: PruneFlags, fromSettings: RetentionPolicy | null | undefined): { policy: RetentionPolicy; origin: string } {
  const policy: RetentionPolicy = {};
  let any = false;
  for (const [key, flag] of COUNT_FLAGS) {
    const value = flags[key];
    if (value === undefined) continue;
    if (!/^\d{1,7}$/.test(value)) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a whole number (0 or more)`, { code: 'USAGE' });
    policy[key] = Number(value);
    any = true;
  }
  if (flags.keepWithin !== undefined) {
    try {
      parseDuration(flags.keepWithin);
    } catch (error) {
      throw new UsageError(`--keep-within: ${(error as Error).message}`, { code: 'USAGE' });
    }
    policy.keepWithin = flags.keepWithin;
    any = true;
  }
  return any ? { policy, origin: 'the --keep-* flags' } : { policy: fromSettings ?? {}, origin: 'settings.json "retention"' };
}

export function renderPrune(results: StorePruneResult[], dryRun: boolean, policyText: string): string {
  const lines: string[] = [];
  for (const result of results) {
    const ours = result.plan.filter((p) => p.action !== 'ignore');
    const removing = ours.filter((p) => p.action === 'remove').length;
    lines.push(`${printable(result.location)}: policy ${policyText}: keep ${ours.length - removing}, ${dryRun ? 'would remove' : 'remove'} ${removing}${dryRun ? ' (dry run: nothing deleted)' : ''}`);
    for (const item of result.plan) {
      const what = item.action === 'keep' ? 'keep  ' : item.action === 'remove' ? 'remove' : 'ignore';
      lines.push(`  ${what}  ${localDateTime(item.created)}  ${printable(item.archive)}${item.reasons.length ? `  (${item.reasons.join(', ')})` : ''}`);
    }
    if (result.orphansRemoved.length > 0) lines.push(`  removed sidecars left without their archive: ${result.orphansRemoved.map(printable).join(', ')}`);
    for (const f of result.failed) lines.push(`  could not delete ${printable(f.file)}: ${oneLine(f.error)}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function pruneCommand(io: CliIO, flags: PruneFlags): Promise<number> {
  return runCommandFrame(io, flags, async (ctx) =>
    // History: see recordCommand (recorded only when a settings file names the job; a dry run is not recorded).
    recordCommand(io, ctx, 'prune', ctx.logger.file ?? effectiveFor(io, ctx.loaded, flags).logFile, flags.dryRun === true, () => pruneBody(io, flags, ctx)),
  );
}

async function pruneBody(io: CliIO, flags: PruneFlags, ctx: CommandContext): Promise<CommandOutput> {
  const wait = parseWait(flags.wait);
  const { policy, origin } = policyFrom(flags, ctx.loaded.settings?.retention);
  if (isEmptyPolicy(policy)) {
    throw new UsageError(
      origin.startsWith('settings')
        ? `No retention policy: no --keep-* flag was given${ctx.loaded.file ? ` and ${ctx.loaded.file} has no "retention" rule` : ' and there is no settings file'}, so nothing is pruned. Give at least one rule, e.g. --keep-daily 7 --keep-weekly 4.`
        : 'The --keep-* flags given keep nothing in particular (all 0), so nothing is pruned. Give at least one rule of 1 or more, e.g. --keep-daily 7.',
      { code: 'EMPTY_POLICY' },
    );
  }
  const effective = effectiveFor(io, ctx.loaded, flags);
  if (effective.sources.length === 0) {
    throw new UsageError('Which job? prune only removes the backups of one job: pass --config FILE, or the job\'s --source PATH (and --name if it has one).', {
      code: 'NO_SOURCE',
    });
  }
  const job: JobIdentity = { sources: effective.sources, nameTemplate: effective.name.trim() || DEFAULT_NAME_TEMPLATE, host: io.host };
  const stores = await resolveStores(io, ctx.loaded, flags);
  const dryRun = flags.dryRun === true;
  const results = await withJobLock(io, ctx.logger, { job, localDestination: stores.some((s) => s.kind === 'local') ? effective.destination : undefined, logFile: effective.logFile, wait, command: 'backup prune', skip: dryRun }, () =>
    pruneStores(stores, job, policy, { dryRun, signal: io.signal, logger: ctx.logger }),
  );
  const failed = results.reduce((n, r) => n + r.failed.length, 0);
  return {
    exitCode: failed > 0 ? ExitCode.failed : ExitCode.ok,
    json: {
      dryRun,
      policy,
      locations: results.map((r) => ({
        location: r.location,
        backups: r.plan.map((p) => ({ name: p.archive, created: p.created.toISOString(), action: p.action, reasons: p.reasons, files: p.files })),
        removed: r.removed,
        orphansRemoved: r.orphansRemoved,
        failed: r.failed,
      })),
      error: failed > 0 ? { code: 'PRUNE_INCOMPLETE', message: `${failed} file(s) could not be deleted` } : null,
    },
    human: renderPrune(results, dryRun, describePolicy(policy)),
  };
}
