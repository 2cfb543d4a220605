/**
 * One interface for every place a backup can go. A destination never knows
 * the archive format; it receives bytes, a name and finished sidecar files.
 *
 * Life cycle of one backup on one destination:
 *   reserve(name) -> open() -> (bytes written) -> verify() -> writeSidecars() -> publish()
 * The archive's final name comes last: a complete archive never exists
 * without its `.sha256` and manifest. abort() at any point before publish's
 * end removes everything of this run (partial archive and sidecars), and
 * close() releases connections.
 */
import type { Writable } from 'node:stream';

export interface SidecarFile {
  /** File name beside the archive, e.g. `NAME.tar.gz.sha256`. */
  name: string;
  content: string;
}

export interface CommitInfo {
  sha256: string;
  bytes: number;
}

export interface Committed {
  /** The archive's final file name. */
  fileName: string;
  /** Where it is, for people: a path or an s3:// URL. */
  location: string;
}

/** Sidecar suffixes: a name is free only when the archive and these are all free. */
export const SIDECAR_SUFFIXES = ['.sha256', '.manifest.json'] as const;

export interface Destination {
  readonly kind: 'local' | 's3';
  /** Folder or bucket/prefix, for messages. */
  readonly label: string;
  /** Claims `fileName` (atomically where the store allows); false if it or one of its sidecars is taken. */
  reserve(fileName: string): Promise<boolean>;
  /** Where the reserved archive will be once published: a path or an s3:// URL. */
  location(): string;
  /** The stream the archive's bytes are written to. */
  open(signal?: AbortSignal): Promise<Writable>;
  /** Checks what was stored against `info`; nothing visible changes. */
  verify(info: CommitInfo, signal?: AbortSignal): Promise<void>;
  /** Writes sidecar files beside the (not yet published) archive, never replacing an existing file. */
  writeSidecars(files: readonly SidecarFile[], signal?: AbortSignal): Promise<void>;
  /** Publishes the verified archive under its final name: the last step. */
  publish(info: CommitInfo, signal?: AbortSignal): Promise<Committed>;
  /** Removes anything of this run not published. Safe to call more than once, and after a failed publish. */
  abort(): Promise<void>;
  /** Releases connections; the destination is not used after this. */
  close(): Promise<void>;
}
