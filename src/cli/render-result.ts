/**
 * Turns a BackupResult into what a person reads (short, on stdout/stderr)
 * or what a script reads (one JSON object on stdout).
 */
import path from 'node:path';
import type { BackupResult } from '../backup/result.js';
import { oneLine, printable } from '../log/printable.js';
import { humanText, jsonLine } from './io.js';
import { formatBytes, formatDuration } from './format-bytes.js';

const MAX_SKIPS_SHOWN = 10;

// Everything printed passes through the same redaction as the log (an endpoint URL with
// user:password in it, say, must not end up in a cron mail) and names are escaped (printable).
export function renderJson(result: BackupResult): string {
  return jsonLine(result);
}

export function renderHuman(result: BackupResult, logFile: string | undefined): string {
  return humanText(humanLines(result, logFile));
}

function humanLines(result: BackupResult, logFile: string | undefined): string {
  const lines: string[] = [];
  if (!result.ok) {
    lines.push(`Backup failed: ${oneLine(result.error?.message ?? 'unknown error')}`);
    // Which destination has the backup and which has not, one line each.
    for (const d of result.destinations ?? []) lines.push(`  ${d.name}: ${d.ok ? (result.dryRun ? 'would be written' : 'complete') : 'FAILED'} ${printable(d.location)}`);
    if (logFile) lines.push(`Details: ${logFile}`);
    return `${lines.join('\n')}\n`;
  }
  if (result.dryRun) {
    const targets = copies(result).map((c) => printable(c.location));
    lines.push(`Dry run: would write ${targets.join(' and ')} (${result.format}) from ${result.files} files, ${formatBytes(result.sourceBytes)}. Nothing was written.`);
  } else {
    // Every copy the run made, the local one first: a run to an SFTP server or Azure alone names
    // where its backup went, and a second folder or remote is not left out of the summary.
    const [first, ...others] = copies(result);
    lines.push(`Backup complete: ${first ? printable(first.location) : '(no copy)'}`);
    for (const other of others) {
      const named = other.name === other.type ? '' : ` (${printable(other.name)})`;
      lines.push(`  ${other.type === 'local' ? 'copied' : 'uploaded'} to ${printable(other.location)}${named}`);
    }
    lines.push(
      `  ${formatBytes(result.bytes)} ${result.format}, ${result.files} file${result.files === 1 ? '' : 's'} (${formatBytes(result.sourceBytes)} read)${
        result.durationMs !== undefined ? ` in ${formatDuration(result.durationMs)}` : ''
      }`,
    );
    lines.push(`  sha256 ${result.sha256}`);
    if (result.archive) {
      const dir = path.dirname(result.archive);
      const sidecar = shellQuote(`${path.basename(result.archive)}.sha256`);
      lines.push(`  check it: ${dir === '.' ? '' : `cd ${shellQuote(dir)} && `}sha256sum -c ${sidecar}`);
    }
  }
  if (result.retention) {
    const removed = result.retention.removed.reduce((n, r) => n + r.files.filter((f) => !/\.(sha256|manifest\.json|verified\.json)$/.test(f)).length, 0);
    lines.push(`  retention (${result.retention.policy}): kept ${result.retention.kept} backup(s), removed ${removed}`);
    for (const f of result.retention.failed) lines.push(`  retention: could not delete ${printable(f.file)}: ${oneLine(f.error)}`);
  }
  if (result.skipped.length > 0) {
    lines.push(`${result.skipped.length} item(s) could not be backed up:`);
    for (const skip of result.skipped.slice(0, MAX_SKIPS_SHOWN)) lines.push(`  - ${printable(skip.path)}: ${oneLine(skip.reason)}`);
    if (result.skipped.length > MAX_SKIPS_SHOWN) {
      lines.push(`  ... and ${result.skipped.length - MAX_SKIPS_SHOWN} more${logFile ? ` (all listed in ${logFile})` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Where the run put (or, dry, would put) the archive: each destination that has it, local ones first. */
function copies(result: BackupResult): Array<{ name: string; type: string; location: string }> {
  const made = (result.destinations ?? []).filter((d) => d.ok);
  if (made.length > 0) {
    // The first local copy is `archive` (as given: relative to where the run started, as before).
    const local = made.filter((d) => d.type === 'local').map((d, i) => (i === 0 && result.archive ? { ...d, location: result.archive } : d));
    return [...local, ...made.filter((d) => d.type !== 'local')];
  }
  // A result without the destination list (older shape): the local archive and the S3 object.
  return [
    ...(result.archive ? [{ name: 'local', type: 'local', location: result.archive }] : []),
    ...(result.s3 ? [{ name: 's3', type: 's3', location: `s3://${result.s3.bucket}/${result.s3.key}` }] : []),
  ];
}

/**
 * Quotes a word for a POSIX shell only when it needs it. A word with control
 * characters becomes a `$'...'` word with them escaped (bash, zsh, ksh, dash 0.5.12+).
 */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(word)) {
    return `$'${word.replace(/[\\']/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
  }
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
