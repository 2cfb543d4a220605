/**
 * `backup verify`: is this backup still good? Recomputes the SHA-256 while
 * reading the archive to its end (every entry decompressed and checked by
 * the format's CRCs), then compares with the `.sha256` sidecar and the
 * manifest (archive size, entry count, file count, total file bytes).
 * Streamed: from S3 without a temporary file.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { Store } from '../storage/store.js';
import { readArchive, formatOfName, ArchiveDamagedError } from '../archive/read/read-archive.js';
import { MAX_SHA256_BYTES, readManifest, readSidecar, type StoredManifest, type VerifiedRecord } from './catalog.js';

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyOutcome {
  location: string;
  ok: boolean;
  sha256: string | null;
  bytes: number;
  entries: number;
  files: number;
  fileBytes: number;
  checks: VerifyCheck[];
  /** The failed checks' details, in order. */
  problems: string[];
  /** Why the outcome could not be recorded beside the archive (NAME.EXT.verified.json), if it could not. */
  recordProblem?: string;
}

export interface VerifyOptions {
  signal?: AbortSignal;
  envPath?: string;
  threads?: number;
  now: Date;
  toolVersion: string;
  /** Record the outcome beside the archive (NAME.EXT.verified.json) for `backup list`. */
  record?: boolean;
  onBytes?: (bytes: number, total?: number) => void;
  /** Size of the archive if known (progress). */
  size?: number;
}

/** `HEX  NAME` (sha256sum's format, text or binary mode); undefined if not such a line. */
export function parseShaSidecar(text: string): { sha256: string; name: string } | undefined {
  const match = /^([0-9a-fA-F]{64}) [ *](.+?)\r?\n?$/.exec(text.split('\n')[0] ?? '');
  return match ? { sha256: match[1]!.toLowerCase(), name: match[2]! } : undefined;
}

/**
 * Does a sidecar's or manifest's archive name mean `name`? They hold the name
 * without the S3 prefix, and an s3:// URL does not say where a prefix like
 * `host1-` ends: `host1-data.tar.gz` is described as `data.tar.gz`.
 */
export function sameArchive(name: string, described: string): boolean {
  return name === described || (described.length > 0 && name.endsWith(described));
}

async function hashStored(store: Store, name: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await store.openRead(name, signal)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function compare(checks: VerifyCheck[], name: string, actual: number | string, expected: number | string | undefined, what: string): void {
  if (expected === undefined) return;
  checks.push({
    name,
    ok: actual === expected,
    detail: actual === expected ? `${what}: ${actual}` : `${what}: the archive has ${actual}, the manifest says ${expected}`,
  });
}

export async function verifyBackup(store: Store, name: string, options: VerifyOptions): Promise<VerifyOutcome> {
  const location = store.locationOf(name);
  const format = formatOfName(name);
  if (!format) {
    throw new UsageError(`${location}: not an archive this tool reads (expected .zip, .tar.gz or .tar.bz2).`, { code: 'UNKNOWN_FORMAT' });
  }
  const checks: VerifyCheck[] = [];

  const { text: shaText, problem: shaProblem } = await readSidecar(store, `${name}.sha256`, MAX_SHA256_BYTES, options.signal);
  const sidecar = shaText === undefined ? undefined : parseShaSidecar(shaText);
  if (shaProblem !== undefined) checks.push({ name: 'sidecar', ok: false, detail: shaProblem });
  else if (shaText === undefined) checks.push({ name: 'sidecar', ok: false, detail: `${name}.sha256 is missing` });
  else if (!sidecar) checks.push({ name: 'sidecar', ok: false, detail: `${name}.sha256 is not a sha256sum line` });
  else if (!sameArchive(name, sidecar.name)) checks.push({ name: 'sidecar', ok: false, detail: `${name}.sha256 names ${sidecar.name}, not ${name}` });

  const { manifest, problem } = await readManifest(store, name, options.signal, true);
  if (!manifest) checks.push({ name: 'manifest', ok: false, detail: `${name}.manifest.json: ${problem}` });

  let read;
  try {
    read = await readArchive({
      store,
      name,
      format,
      // Every byte of every entry is decompressed and checked against its CRC / length.
      onEntry: async (_entry, body) => {
        for await (const piece of body) void piece;
      },
      signal: options.signal,
      envPath: options.envPath,
      threads: options.threads,
      onBytes: options.onBytes && ((bytes) => options.onBytes?.(bytes, options.size)),
    });
  } catch (error) {
    // Only the user cancels: an abort is a cancellation only if the command's own signal was aborted.
    if (options.signal?.aborted) throw error;
    if (!(error instanceof ArchiveDamagedError)) throw error;
    checks.push({ name: 'read', ok: false, detail: error.message });
    // The read stopped at the damage; the whole file's SHA-256 still says whether it changed
    // since the backup (a second read, only for a damaged archive).
    if (sidecar) {
      const whole = await hashStored(store, name, options.signal);
      checks.push({
        name: 'sha256',
        ok: whole === sidecar.sha256,
        detail:
          whole === sidecar.sha256
            ? `SHA-256 matches ${name}.sha256: the archive was already damaged when it was written`
            : `SHA-256 is ${whole}, ${name}.sha256 says ${sidecar.sha256} (the archive was changed or damaged since the backup)`,
      });
    }
  }

  if (read) {
    checks.push({ name: 'read', ok: true, detail: `read to the end: ${read.stats.entries} entries, every CRC correct` });
    if (sidecar) {
      checks.push({
        name: 'sha256',
        ok: sidecar.sha256 === read.sha256,
        detail:
          sidecar.sha256 === read.sha256
            ? `SHA-256 matches ${name}.sha256`
            : `SHA-256 is ${read.sha256}, ${name}.sha256 says ${sidecar.sha256} (the archive or the sidecar was changed)`,
      });
    }
    if (manifest) addManifestChecks(checks, manifest, read);
  }

  const problems = checks.filter((c) => !c.ok).map((c) => c.detail);
  const outcome: VerifyOutcome = {
    location,
    ok: problems.length === 0,
    sha256: read?.sha256 ?? null,
    bytes: read?.bytes ?? 0,
    entries: read?.stats.entries ?? 0,
    files: read?.stats.files ?? 0,
    fileBytes: read?.stats.fileBytes ?? 0,
    checks,
    problems,
  };
  if (options.record) {
    const record: VerifiedRecord = { verifiedAt: options.now.toISOString(), ok: outcome.ok, sha256: outcome.sha256, problems, toolVersion: options.toolVersion };
    try {
      await store.writeText(`${name}.verified.json`, `${JSON.stringify(record, null, 2)}\n`, options.signal);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      // A read-only store (or credentials) can still be verified; only `backup list` misses the date.
      outcome.recordProblem = error instanceof Error ? error.message : String(error);
    }
  }
  return outcome;
}

function addManifestChecks(
  checks: VerifyCheck[],
  manifest: StoredManifest,
  read: { sha256: string; bytes: number; stats: { entries: number; files: number; fileBytes: number } },
): void {
  checks.push({
    name: 'manifest-sha256',
    ok: manifest.sha256 === read.sha256,
    detail: manifest.sha256 === read.sha256 ? 'SHA-256 matches the manifest' : `SHA-256 is ${read.sha256}, the manifest says ${manifest.sha256}`,
  });
  compare(checks, 'archive-bytes', read.bytes, manifest.archiveBytes, 'archive size');
  compare(checks, 'entries', read.stats.entries, manifest.entries, 'entries');
  compare(checks, 'files', read.stats.files, manifest.files, 'files');
  compare(checks, 'file-bytes', read.stats.fileBytes, manifest.sourceBytes, 'file bytes');
}
