/**
 * What backups a destination holds: archives grouped with their sidecars
 * (`.sha256`, `.manifest.json`, `.verified.json`), read from their
 * manifests. An archive without a (readable, matching) manifest is
 * "unmanaged": listed, verified on request, never pruned.
 */
import { z } from 'zod';
import type { Store, StoredFile } from '../storage/store.js';
import { BackupError } from '../errors.js';
import { formatOfName, type ReadableFormat } from '../archive/read/read-archive.js';

export const SIDECAR_SUFFIXES = ['.sha256', '.manifest.json', '.verified.json'] as const;
/** The largest manifest read (README: "Sidecar files"); a larger one is refused, not read. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** The largest .sha256 read (one sha256sum line). */
export const MAX_SHA256_BYTES = 64 * 1024;
/** The largest .verified.json read. */
export const MAX_VERIFIED_BYTES = 1024 * 1024;

/**
 * A sidecar that cannot be one (not a regular file, a symlink, too large) as
 * the reason why, so that one planted file makes its archive unmanaged
 * instead of stopping list / verify / prune.
 */
export async function readSidecar(
  store: Store,
  name: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<{ text?: string; problem?: string }> {
  try {
    return { text: await store.readText(name, maxBytes, signal) };
  } catch (error) {
    if (error instanceof BackupError && (error.code === 'SIDECAR_INVALID' || error.code === 'SIDECAR_TOO_LARGE')) return { problem: error.message };
    throw error;
  }
}

/** The manifest fields list/verify/prune rely on; other fields are kept as they are. */
export const ManifestSchema = z.looseObject({
  manifestVersion: z.number(),
  created: z.iso.datetime({ offset: true }),
  host: z.string(),
  archive: z.string(),
  nameTemplate: z.string(),
  sources: z.array(z.string()),
  format: z.string(),
  files: z.number(),
  entries: z.number(),
  sourceBytes: z.number(),
  archiveBytes: z.number(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type StoredManifest = z.infer<typeof ManifestSchema>;

/** What the last `backup verify` found, kept beside the archive as NAME.EXT.verified.json. */
export const VerifiedSchema = z.looseObject({
  verifiedAt: z.iso.datetime({ offset: true }),
  ok: z.boolean(),
  sha256: z.string().nullable().optional(),
  problems: z.array(z.string()).optional(),
});
export type VerifiedRecord = z.infer<typeof VerifiedSchema>;

export interface CatalogEntry {
  /** The archive's file name (key below the prefix). */
  archive: string;
  format: ReadableFormat;
  size: number;
  /** From the manifest, else the file's modification time. */
  created: Date;
  manifest?: StoredManifest;
  /** Why there is no usable manifest (missing, unreadable, not ours). */
  unmanagedReason?: string;
  /** Sidecar files present beside the archive. */
  sidecars: string[];
  verified?: VerifiedRecord;
}

export interface Catalog {
  /** Newest first. */
  backups: CatalogEntry[];
  /** Sidecars whose archive is gone (e.g. a prune interrupted half-way), grouped by the archive name they belong to. */
  orphans: Map<string, string[]>;
}

function sidecarOwner(name: string): string | undefined {
  for (const suffix of SIDECAR_SUFFIXES) if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
  return undefined;
}

/** Pure: the archives among `files`, each with its sidecars, and the sidecars left without an archive. */
export function groupFiles(files: readonly StoredFile[]): {
  archives: Array<StoredFile & { format: ReadableFormat; sidecars: string[] }>;
  orphans: Map<string, string[]>;
} {
  const archives = files
    .filter((f) => sidecarOwner(f.name) === undefined && formatOfName(f.name) !== undefined)
    .map((f) => ({ ...f, format: formatOfName(f.name)!, sidecars: [] as string[] }));
  const archiveNames = new Set(archives.map((a) => a.name));
  const orphans = new Map<string, string[]>();
  for (const file of files) {
    const owner = sidecarOwner(file.name);
    if (owner === undefined) continue;
    if (archiveNames.has(owner)) archives.find((a) => a.name === owner)!.sidecars.push(file.name);
    else if (formatOfName(owner) !== undefined) orphans.set(owner, [...(orphans.get(owner) ?? []), file.name]);
  }
  return { archives, orphans };
}

/** Parses a manifest's text; undefined with the reason when it is not a usable manifest for `archive`. */
/**
 * `loose`: accept a manifest naming the archive without a prefix that is not
 * a folder (verifying s3://b/host1-data.tar.gz, described as data.tar.gz).
 * Never for list and prune, where a renamed copy must stay unmanaged.
 */
export function parseManifest(text: string, archive: string, loose = false): { manifest?: StoredManifest; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'its manifest is not valid JSON' };
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) return { problem: `its manifest is not one of ours (${parsed.error.issues[0]?.path.join('.') || 'top level'}: ${parsed.error.issues[0]?.message})` };
  if (parsed.data.archive !== archive && !(loose && archive.endsWith(parsed.data.archive))) return { problem: `its manifest describes ${parsed.data.archive} (renamed?)` };
  return { manifest: parsed.data };
}

export function parseVerified(text: string | undefined): VerifiedRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = VerifiedSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the manifest of one archive (undefined + reason when there is none). */
export async function readManifest(
  store: Store,
  archive: string,
  signal?: AbortSignal,
  loose = false,
): Promise<{ manifest?: StoredManifest; problem?: string }> {
  const { text, problem } = await readSidecar(store, `${archive}.manifest.json`, MAX_MANIFEST_BYTES, signal);
  if (problem !== undefined) return { problem };
  if (text === undefined) return { problem: 'no manifest beside it' };
  return parseManifest(text, archive, loose);
}

/** Every backup in `store`, newest first, with manifests read (a few at a time). */
export async function loadCatalog(store: Store, signal?: AbortSignal): Promise<Catalog> {
  const { archives, orphans } = groupFiles(await store.list(signal));
  const backups: CatalogEntry[] = [];
  const queue = [...archives];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const archive = next;
      // The listing holds regular files only: in a local folder, a manifest name that is not one
      // (a FIFO, a link planted there) is read to say what it is, at the cost of one open.
      const { manifest, problem } =
        archive.sidecars.includes(`${archive.name}.manifest.json`) || store.kind === 'local'
          ? await readManifest(store, archive.name, signal)
          : { manifest: undefined, problem: 'no manifest beside it' };
      const verified = archive.sidecars.includes(`${archive.name}.verified.json`)
        ? parseVerified((await readSidecar(store, `${archive.name}.verified.json`, MAX_VERIFIED_BYTES, signal)).text)
        : undefined;
      backups.push({
        archive: archive.name,
        format: archive.format,
        size: archive.size,
        created: manifest ? new Date(manifest.created) : archive.modified,
        manifest,
        unmanagedReason: problem,
        sidecars: archive.sidecars.sort(),
        verified,
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  backups.sort(newestFirst);
  return { backups, orphans };
}

export function newestFirst(a: CatalogEntry, b: CatalogEntry): number {
  return b.created.getTime() - a.created.getTime() || (a.archive < b.archive ? 1 : a.archive > b.archive ? -1 : 0);
}
