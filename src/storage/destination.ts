/**
 * One interface for every place a backup can go. A destination never knows
 * the archive format; it receives bytes, a name and finished sidecar files.
 *
 * Life cycle of one backup on one destination:
 *   reserve(name) -> open() -> (bytes written) -> commit() -> writeSidecars()
 * and abort() at any point before commit's end removes everything partial.
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
  /** The archive's final file name (may differ from the reserved one after a clash). */
  fileName: string;
  /** Where it is, for people: a path or an s3:// URL. */
  location: string;
}

export interface Destination {
  readonly kind: 'local' | 's3';
  /** Folder or bucket/prefix, for messages. */
  readonly label: string;
  /** Claims `fileName` (atomically where the store allows); false if it is taken. */
  reserve(fileName: string): Promise<boolean>;
  /** The stream the archive's bytes are written to. */
  open(signal?: AbortSignal): Promise<Writable>;
  /** Checks what was stored against `info` and publishes it under its final name. */
  commit(info: CommitInfo, signal?: AbortSignal): Promise<Committed>;
  /** Writes sidecar files beside the committed archive, each atomically. */
  writeSidecars(files: readonly SidecarFile[]): Promise<void>;
  /** Removes anything partial. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}
