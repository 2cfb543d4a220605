/**
 * The manifest written beside every archive (`NAME.EXT.manifest.json`) and
 * the `.sha256` sidecar. Pure: everything comes in as parameters.
 */
import type { ArchiveRoot } from '../archive/archive-roots.js';
import type { Skip } from '../archive/walk.js';
import type { SidecarFile, StoreKind } from '../storage/store.js';

export const MANIFEST_VERSION = 1;

export interface ManifestDestination {
  /** The destination's name (settings.json). */
  name?: string;
  kind: StoreKind;
  location: string;
  ok: boolean;
  error?: string;
}

export interface Manifest {
  manifestVersion: number;
  tool: string;
  toolVersion: string;
  created: string;
  host: string;
  archive: string;
  nameTemplate: string;
  sources: string[];
  /** Where each source is stored inside the archive (its base name, or a longer path suffix when base names clash). */
  roots: ArchiveRoot[];
  exclude: string[];
  formatRequested: string;
  format: string;
  files: number;
  entries: number;
  sourceBytes: number;
  archiveBytes: number;
  sha256: string;
  skipped: Skip[];
  warnings: string[];
  destinations: ManifestDestination[];
}

export function sha256Sidecar(fileName: string, sha256: string): SidecarFile {
  // Two spaces: the text-mode line `sha256sum -c` expects.
  return { name: `${fileName}.sha256`, content: `${sha256}  ${fileName}\n` };
}

export function manifestSidecar(manifest: Manifest): SidecarFile {
  return { name: `${manifest.archive}.manifest.json`, content: `${JSON.stringify(manifest, null, 2)}\n` };
}
