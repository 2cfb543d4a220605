/**
 * `backup restore <archive | s3://bucket/key> --to DIR [--overwrite]
 * [--include PATTERN...]`. With no archive in a terminal, offers the
 * backups of the destination to choose from (and asks for the folder).
 */
import os from 'node:os';
import path from 'node:path';
import { input, select } from '@inquirer/prompts';
import { ExitCode, UsageError, CancelledError, type ErrorCode, type ExitCodeValue } from '../errors.js';
import { loadCatalog } from '../lifecycle/catalog.js';
import { counted, restoreBackup, type RestoreOutcome } from '../lifecycle/restore.js';
import type { Store } from '../storage/store.js';
import type { CliIO } from './io.js';
import { localDateTime, runCommandFrame, type CommandContext, type CommonFlags } from './command-runner.js';
import { resolveStores, type StoreFlags } from './stores.js';
import { resolveBackupName } from './resolve-backup-name.js';
import { formatBytes } from './format-bytes.js';
import { createByteProgress } from './byte-progress.js';
import { createProgressSink } from './progress-sink.js';
import { shellQuote } from './render-result.js';
import { expandHome } from '../config/expand-home.js';
import { oneLine, printable } from '../log/printable.js';

export type RestoreFlags = CommonFlags & StoreFlags & { to?: string; overwrite?: boolean; include?: string[] };

const MAX_SHOWN = 10;

function renderRestore(outcome: RestoreOutcome, logFile: string | undefined): string {
  const links = outcome.hardlinks ? `, ${counted(outcome.hardlinks, 'hard link')}` : '';
  const lines = [
    `Restored ${printable(outcome.location)}`,
    `  into ${printable(outcome.to)}: ${counted(outcome.files, 'file')} (${formatBytes(outcome.bytes)}), ${counted(outcome.dirs, 'folder')}, ${counted(outcome.symlinks, 'symlink')}${links}`,
  ];
  if (outcome.checksum === 'match') lines.push(`  sha256 ${outcome.sha256} matches its .sha256: the archive read back intact`);
  else if (outcome.checksum === 'mismatch') {
    lines.push(`  WARNING: sha256 ${outcome.sha256} does NOT match its .sha256 (${outcome.expectedSha256}): the archive was changed or damaged; check the restored files`);
  } else lines.push(`  sha256 ${outcome.sha256} (no .sha256 beside the archive to compare with; the format's own CRCs were checked)`);
  if (outcome.existing.length > 0) {
    const n = outcome.existing.length;
    lines.push(`${counted(n, 'file')} already ${n === 1 ? 'exists' : 'exist'} in ${printable(outcome.to)} and ${n === 1 ? 'was' : 'were'} NOT overwritten (add --overwrite to replace ${n === 1 ? 'it' : 'them'}):`);
    for (const p of outcome.existing.slice(0, MAX_SHOWN)) lines.push(`  - ${printable(p)}`);
    if (n > MAX_SHOWN) lines.push(`  ... and ${n - MAX_SHOWN} more${logFile ? ` (all in ${logFile})` : ''}`);
  }
  if (outcome.notRestored.length > 0) {
    const n = outcome.notRestored.length;
    lines.push(`${counted(n, 'entry', 'entries')} not restored:`);
    for (const p of outcome.notRestored.slice(0, MAX_SHOWN)) lines.push(`  - ${printable(p.path)}: ${oneLine(p.reason)}`);
    if (n > MAX_SHOWN) lines.push(`  ... and ${n - MAX_SHOWN} more${logFile ? ` (all in ${logFile})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The result's verdict, from the outcome's facts (never from message text). */
function verdict(outcome: RestoreOutcome, include: string[]): { exitCode: ExitCodeValue; error: { code: ErrorCode; message: string } | null } {
  if (include.length > 0 && outcome.matched === 0) {
    return {
      exitCode: ExitCode.usage,
      error: {
        code: 'NOTHING_MATCHED',
        message: `nothing in the archive matched --include ${include.map((p) => shellQuote(p)).join(' ')}; nothing was restored (patterns match paths inside the archive, e.g. data/docs or *.txt: see \`tar -tf\` or \`unzip -l\`)`,
      },
    };
  }
  if (outcome.checksum === 'mismatch') {
    return { exitCode: ExitCode.failed, error: { code: 'CHECKSUM_MISMATCH', message: "the archive's SHA-256 does not match its .sha256; the restored files may be damaged" } };
  }
  const missing = outcome.existing.length + outcome.notRestored.length;
  if (missing > 0) {
    const why = [
      outcome.existing.length > 0 ? `${counted(outcome.existing.length, 'existing file')} kept (no --overwrite)` : '',
      outcome.notRestored.length > 0 ? `${counted(outcome.notRestored.length, 'entry', 'entries')} that could not be restored` : '',
    ].filter(Boolean);
    return { exitCode: ExitCode.failed, error: { code: 'RESTORE_INCOMPLETE', message: `${counted(missing, 'entry', 'entries')} of the archive ${missing === 1 ? 'was' : 'were'} not restored: ${why.join(', ')}` } };
  }
  return { exitCode: ExitCode.ok, error: null };
}

/** The backup to restore and where, asked in a terminal. */
async function choose(io: CliIO, ctx: CommandContext, flags: RestoreFlags): Promise<{ store: Store; name: string; to: string }> {
  const context = { input: io.stdin, output: io.stdout, signal: io.signal };
  const choices: Array<{ name: string; value: { store: Store; name: string }; description?: string }> = [];
  for (const store of await resolveStores(io, ctx.loaded, flags)) {
    const catalog = await loadCatalog(store, io.signal).catch((error: unknown) => {
      ctx.logger.warn(`cannot list ${store.label}: ${(error as Error).message}`);
      return { backups: [] };
    });
    for (const b of catalog.backups) {
      choices.push({
        name: `${localDateTime(b.created)}  ${printable(b.archive)}  ${formatBytes(b.size)}${b.manifest ? '' : '  (unmanaged)'}${store.kind === 's3' ? '  [S3]' : ''}`,
        value: { store, name: b.archive },
        description: printable(store.locationOf(b.archive)),
      });
    }
  }
  if (choices.length === 0) {
    throw new UsageError('No backups found to restore (looked in the settings\' destinations, or ./backups). Give an archive path or s3://bucket/key.', {
      code: 'NO_BACKUPS',
    });
  }
  try {
    const picked = await select({ message: 'Which backup do you want to restore?', choices, pageSize: 12 }, context);
    const base = picked.name.replace(/\.(zip|tar\.gz|tar\.bz2|tgz|tbz2?)$/i, '');
    const to =
      flags.to ??
      (await input(
        {
          message: 'Restore into which folder? (created if missing; existing files are kept)',
          default: `restore-${base}`,
          validate: (value) => (value.trim() === '' ? 'Give a folder' : true),
        },
        context,
      ));
    return { ...picked, to };
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) throw new CancelledError('Cancelled; nothing was restored.');
    throw error;
  }
}

export async function restoreCommand(io: CliIO, archive: string | undefined, flags: RestoreFlags): Promise<number> {
  return runCommandFrame(io, flags, async (ctx) => {
    let store: Store;
    let name: string;
    let to = flags.to;
    let chosen = false;
    if (archive !== undefined) {
      ({ store, name } = await resolveBackupName(io, ctx.loaded, archive, flags));
    } else {
      if (io.stdin.isTTY !== true || flags.json) {
        throw new UsageError('Which backup? Give an archive path or s3://bucket/key, e.g. `backup restore backups/data-20261126-020000.tar.gz --to ./restored` (`backup list` shows them). Without one, a terminal is needed to choose.', {
          code: 'USAGE',
        });
      }
      ({ store, name, to } = await choose(io, ctx, flags));
      chosen = true;
    }
    if (to === undefined) throw new UsageError('Where to? Add --to DIR (a folder; created if missing).', { code: 'USAGE' });
    const stat = await store.stat(name, io.signal);
    if (!stat) throw new UsageError(`${store.locationOf(name)} does not exist. See \`backup list\` for the backups there.`, { code: 'ARCHIVE_NOT_FOUND' });
    const target = path.resolve(io.cwd, expandHome(to, io.home));

    ctx.logger.info(`restore: ${store.locationOf(name)} -> ${target}`, { overwrite: flags.overwrite === true, include: flags.include ?? [] });
    const progress = flags.json ? undefined : createByteProgress(io.stderr, `restoring ${name}`);
    const sink = createProgressSink(io.progress, 'restore', { archive: name });
    let outcome: RestoreOutcome;
    try {
      outcome = await restoreBackup(store, name, {
        to: target,
        overwrite: flags.overwrite === true,
        include: flags.include ?? [],
        signal: io.signal,
        envPath: io.env.PATH,
        threads: os.availableParallelism(),
        logger: ctx.logger,
        onBytes:
          progress || sink
            ? (bytes) => {
                progress?.update(bytes, stat.size);
                sink?.update({ bytes, totalBytes: stat.size });
              }
            : undefined,
      });
    } finally {
      progress?.stop();
      sink?.stop();
    }
    for (const p of outcome.existing) ctx.logger.fileOnly.warn(`restore: kept existing ${printable(path.join(target, p))} (no --overwrite)`);
    for (const p of outcome.notRestored) ctx.logger.fileOnly.warn(`restore: not restored ${printable(p.path)}: ${oneLine(p.reason)}`);
    const { exitCode, error } = verdict(outcome, flags.include ?? []);
    const failed = exitCode !== ExitCode.ok;
    ctx.logger.fileOnly[failed ? 'error' : 'info'](`restore: ${error ? `incomplete: ${error.message}` : 'complete'}`, {
      files: outcome.files,
      bytes: outcome.bytes,
      sha256: outcome.sha256,
      checksum: outcome.checksum,
    });
    const hint = outcome.checksum === 'match' ? '' : `  check: backup verify ${shellQuote(store.locationOf(name))}\n`;
    return {
      exitCode,
      json: { ...outcome, error },
      human:
        renderRestore(outcome, ctx.logger.file) +
        // (A checksum mismatch is already said, as a WARNING, by renderRestore.)
        (error && error.code !== 'CHECKSUM_MISMATCH' ? `${error.code === 'NOTHING_MATCHED' ? 'error' : 'incomplete'}: ${error.message}\n` : '') +
        (failed && error?.code !== 'NOTHING_MATCHED' ? hint : '') +
        (chosen ? `Without prompts: npx backup restore ${shellQuote(store.kind === 'local' ? path.relative(io.cwd, store.locationOf(name)) || name : store.locationOf(name))} --to ${shellQuote(to)}\n` : ''),
    };
  });
}
