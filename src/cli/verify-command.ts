/**
 * `backup verify <archive | s3://bucket/key>` or `backup verify --all`:
 * reads each archive to the end and checks it against its .sha256 and
 * manifest. Exit 0 when every backup checked is good, 1 otherwise.
 */
import os from 'node:os';
import { ExitCode, UsageError, toBackupError } from '../errors.js';
import { loadCatalog } from '../lifecycle/catalog.js';
import { verifyBackup, type VerifyOutcome } from '../lifecycle/verify.js';
import type { Store } from '../storage/store.js';
import { toolVersion } from '../version.js';
import type { CliIO } from './io.js';
import { runCommandFrame, type CommonFlags, type CommandContext, type CommandOutput } from './command-runner.js';
import { effectiveFor, resolveStores, type StoreFlags } from './stores.js';
import { resolveBackupName } from './resolve-backup-name.js';
import { formatBytes } from './format-bytes.js';
import { createByteProgress } from './byte-progress.js';
import { createProgressSink } from './progress-sink.js';
import { oneLine, printable } from '../log/printable.js';
import { recordCommand } from './run-history.js';

export type VerifyFlags = CommonFlags & StoreFlags & { all?: boolean };

function renderOutcome(outcome: VerifyOutcome): string {
  if (outcome.ok) {
    return `OK      ${printable(outcome.location)}\n        ${outcome.entries} entries, ${outcome.files} files, ${formatBytes(outcome.fileBytes)} unpacked; sha256 ${outcome.sha256} matches its .sha256 and manifest\n`;
  }
  const readOk = outcome.checks.some((c) => c.name === 'read' && c.ok);
  return `FAILED  ${printable(outcome.location)}\n${outcome.problems.map((p) => `        - ${oneLine(p)}\n`).join('')}${
    readOk ? `        (the archive itself reads to the end without error: ${outcome.entries} entries, sha256 ${outcome.sha256})\n` : ''
  }`;
}

async function verifyOne(io: CliIO, ctx: CommandContext, store: Store, name: string, size: number | undefined, json: boolean): Promise<VerifyOutcome> {
  const progress = json ? undefined : createByteProgress(io.stderr, `verifying ${name}`);
  const sink = createProgressSink(io.progress, 'verify', { archive: name });
  try {
    const outcome = await verifyBackup(store, name, {
      signal: io.signal,
      envPath: io.env.PATH,
      threads: os.availableParallelism(),
      now: io.now(),
      toolVersion: toolVersion(),
      record: true,
      size,
      onBytes:
        progress || sink
          ? (bytes) => {
              progress?.update(bytes, size);
              sink?.update({ bytes, ...(size !== undefined ? { totalBytes: size } : {}) });
            }
          : undefined,
    });
    if (outcome.recordProblem) ctx.logger.warn(`could not record the verification beside ${outcome.location}: ${outcome.recordProblem}`);
    progress?.stop();
    if (outcome.ok) ctx.logger.info(`verify: ${outcome.location} OK`, { sha256: outcome.sha256, entries: outcome.entries });
    else ctx.logger.error(`verify: ${outcome.location} FAILED`, { problems: outcome.problems });
    return outcome;
  } finally {
    progress?.stop();
    sink?.stop();
  }
}

/**
 * One backup of `--all`: whatever stops it (an unreadable file, a missing
 * program, an S3 error) is that backup's failure, and the next one is still
 * checked. Only the user's Ctrl-C / SIGTERM stops the loop.
 */
async function verifyOneOf(io: CliIO, ctx: CommandContext, store: Store, name: string, size: number | undefined, json: boolean): Promise<VerifyOutcome> {
  try {
    return await verifyOne(io, ctx, store, name, size, json);
  } catch (error) {
    if (io.signal.aborted) throw error;
    const failure = toBackupError(error, io.signal);
    ctx.logger.error(`verify: ${store.locationOf(name)} FAILED`, { problems: [failure.message] });
    return {
      location: store.locationOf(name),
      ok: false,
      sha256: null,
      bytes: 0,
      entries: 0,
      files: 0,
      fileBytes: 0,
      checks: [{ name: 'read', ok: false, detail: failure.message }],
      problems: [failure.message],
    };
  }
}

export async function verifyCommand(io: CliIO, archive: string | undefined, flags: VerifyFlags): Promise<number> {
  return runCommandFrame(io, flags, async (ctx) =>
    // History: see recordCommand (recorded only when a settings file names the job).
    recordCommand(io, ctx, 'verify', ctx.logger.file ?? effectiveFor(io, ctx.loaded, flags).logFile, false, () => verifyBody(io, archive, flags, ctx)),
  );
}

async function verifyBody(io: CliIO, archive: string | undefined, flags: VerifyFlags, ctx: CommandContext): Promise<CommandOutput> {
  const outcomes: VerifyOutcome[] = [];
  if (archive !== undefined) {
    if (flags.all) throw new UsageError('Give either an archive or --all, not both.', { code: 'USAGE' });
    const { store, name } = await resolveBackupName(io, ctx.loaded, archive, flags);
    const stat = await store.stat(name, io.signal);
    if (!stat) throw new UsageError(`${store.locationOf(name)} does not exist. See \`backup list\` for the backups there.`, { code: 'ARCHIVE_NOT_FOUND' });
    outcomes.push(await verifyOne(io, ctx, store, name, stat.size, flags.json === true));
  } else {
    if (!flags.all) {
      throw new UsageError('Which backup? Give an archive path or s3://bucket/key, or --all for every backup of the destination (see `backup list`).', {
        code: 'USAGE',
      });
    }
    for (const store of await resolveStores(io, ctx.loaded, flags)) {
      const catalog = await loadCatalog(store, io.signal);
      if (catalog.backups.length === 0) ctx.logger.warn(`no backups in ${store.label}`);
      for (const backup of catalog.backups) {
        outcomes.push(await verifyOneOf(io, ctx, store, backup.archive, backup.size, flags.json === true));
        if (!flags.json) io.stdout.write(renderOutcome(outcomes.at(-1)!));
      }
    }
  }
  const failed = outcomes.filter((o) => !o.ok).length;
  const summary =
    archive !== undefined
      ? renderOutcome(outcomes[0]!)
      : `${outcomes.length} backup(s) verified: ${outcomes.length - failed} OK, ${failed} FAILED\n`;
  return {
    exitCode: failed > 0 ? ExitCode.failed : ExitCode.ok,
    json: {
      results: outcomes,
      error: failed > 0 ? { code: 'VERIFY_FAILED', message: `${failed} of ${outcomes.length} backup(s) failed verification` } : null,
    },
    human: summary,
  };
}
