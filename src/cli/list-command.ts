/**
 * `backup list`: the backups of a destination, newest first, from their
 * manifests; archives without one are listed as unmanaged.
 */
import { ExitCode, toBackupError, type BackupError } from '../errors.js';
import { loadCatalog, type CatalogEntry } from '../lifecycle/catalog.js';
import type { CliIO } from './io.js';
import { localDateTime, runCommandFrame, type CommonFlags } from './command-runner.js';
import { resolveStores, type StoreFlags } from './stores.js';
import type { Store } from '../storage/store.js';
import { formatBytes } from './format-bytes.js';
import { oneLine, printable } from '../log/printable.js';

export type ListFlags = CommonFlags & StoreFlags;

export function backupJson(entry: CatalogEntry): Record<string, unknown> {
  const m = entry.manifest;
  return {
    name: entry.archive,
    created: entry.created.toISOString(),
    format: entry.format,
    bytes: entry.size,
    managed: m !== undefined,
    unmanagedReason: entry.unmanagedReason ?? null,
    files: m?.files ?? null,
    sources: m?.sources ?? null,
    host: m?.host ?? null,
    sha256: m?.sha256 ?? null,
    verifiedAt: entry.verified?.verifiedAt ?? null,
    verifiedOk: entry.verified?.ok ?? null,
  };
}

function verifiedText(entry: CatalogEntry): string {
  if (!entry.verified) return '-';
  return `${entry.verified.ok ? 'ok' : 'FAILED'} ${localDateTime(new Date(entry.verified.verifiedAt)).slice(0, 16)}`;
}

export function renderList(label: string, backups: CatalogEntry[]): string {
  if (backups.length === 0) return `No backups in ${printable(label)}.\n`;
  const rows = backups.map((b) => [
    localDateTime(b.created),
    printable(b.archive),
    b.format,
    formatBytes(b.size),
    b.manifest ? String(b.manifest.files) : '-',
    verifiedText(b),
    b.manifest ? b.manifest.sources.map(printable).join(', ') : `unmanaged: ${oneLine(b.unmanagedReason ?? 'no manifest')}`,
  ]);
  const header = ['CREATED', 'NAME', 'FORMAT', 'SIZE', 'FILES', 'VERIFIED', 'SOURCES'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : i === 3 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const unmanaged = backups.filter((b) => !b.manifest).length;
  return [
    `${backups.length} backup(s) in ${printable(label)}, newest first${unmanaged ? ` (${unmanaged} unmanaged: never pruned)` : ''}:`,
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

/** `sftp://backup@nas/volume1/backups ("nas")`, or the location alone for the older keys' local / s3. */
function storeTitle(store: Store): string {
  return store.name === store.kind ? store.label : `${store.label} ("${store.name}")`;
}

export async function listCommand(io: CliIO, flags: ListFlags): Promise<number> {
  return runCommandFrame(io, flags, async ({ loaded, logger }) => {
    const stores = await resolveStores(io, loaded, flags);
    const locations: Array<Record<string, unknown>> = [];
    const text: string[] = [];
    let failure: BackupError | undefined;
    for (const store of stores) {
      try {
        const catalog = await loadCatalog(store, io.signal);
        locations.push({ name: store.name, location: store.label, kind: store.kind, backups: catalog.backups.map(backupJson), error: null });
        text.push(renderList(storeTitle(store), catalog.backups));
      } catch (error) {
        // One destination that cannot be listed (no credentials, folder gone) does not hide the others.
        const problem = toBackupError(error, io.signal);
        if (stores.length === 1 || problem.code === 'CANCELLED') throw problem;
        failure ??= problem;
        logger.fileOnly.error(`cannot list ${store.label}: ${problem.message}`);
        locations.push({ name: store.name, location: store.label, kind: store.kind, backups: [], error: { code: problem.code, message: problem.message } });
        text.push(`Cannot list ${printable(storeTitle(store))}: ${oneLine(problem.message)}\n`);
      }
    }
    return {
      exitCode: failure ? failure.exitCode : ExitCode.ok,
      json: { locations, error: failure ? { code: failure.code, message: failure.message } : null },
      human: text.join('\n'),
    };
  });
}
