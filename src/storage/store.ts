/**
 * The one interface every kind of storage implements (restic's backend idea):
 * a local folder, S3 (and S3-compatible stores), Azure Blob, SFTP, an rclone
 * remote. Nothing outside src/storage/ knows which kind it talks to; it gets
 * a `Store` from open-store.ts and uses only this.
 *
 * A store is a flat folder of files: archives and their sidecars
 * (`NAME.sha256`, `NAME.manifest.json`, `NAME.verified.json`). It knows
 * nothing about archive formats.
 *
 * - Writing one archive is an `ArchiveWrite` (beginWrite): reserve a name,
 *   stream the bytes under a temporary name, verify, write the sidecars,
 *   publish under the final name last. A complete archive never stands under
 *   its final name without its sidecars, and an existing name is never
 *   replaced. abort() removes everything of that write not published.
 * - Reading (list, verify, restore, prune): list, stat, a whole-file stream,
 *   ranged reads, small text files, delete.
 * - Every call that talks to the store takes an AbortSignal (Ctrl-C), and
 *   close() releases clients, sockets and child processes.
 */
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log/logger-types.js';
import { DestinationError } from '../errors.js';

export type StoreKind = 'local' | 's3' | 'azure' | 'sftp' | 'rclone';

/** Sidecar suffixes: a name is free only when the archive and these are all free. */
export const SIDECAR_SUFFIXES = ['.sha256', '.manifest.json'] as const;

export interface StoredFile {
  /** The file name in the folder, or the key/blob name below the prefix. */
  name: string;
  size: number;
  modified: Date;
}

/** Random access to one stored file (a zip's central directory is read this way). */
export interface RangeReader {
  size: number;
  /** Identifies this version of the file (S3: the ETag), for openRead. */
  version?: string;
  read(start: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

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
  /** Where it is, for people: a path or a URL (s3://, azure://, sftp://, rclone remote:path). */
  location: string;
}

export interface WriteOptions {
  logger: Logger;
  /** Ctrl-C: every request of this write is cancelled with it (clean-up excepted). */
  signal: AbortSignal;
  /** The archive's estimated size, for part/block sizes; undefined when unknown. */
  expectedBytes?: number;
  /** Bytes the store has acknowledged so far (remote stores). */
  onProgress?: (bytes: number) => void;
  /** Metadata stored with the archive where the store has metadata (tool version ...). */
  metadata?: Record<string, string>;
}

/**
 * One archive's write. Life cycle:
 *   reserve(name) -> open() -> (bytes written) -> verify() -> writeSidecars() -> publish()
 * abort() at any point before publish's end removes everything of this
 * write (temporary archive and sidecars); it is safe to call more than once
 * and after publish (then it removes nothing).
 */
export interface ArchiveWrite {
  readonly kind: StoreKind;
  /** Folder, bucket/prefix, container, host:path, remote: for messages. */
  readonly label: string;
  /** Claims `fileName` (atomically where the store allows); false if it or one of its sidecars is taken. */
  reserve(fileName: string): Promise<boolean>;
  /** Where the reserved archive will be once published. */
  location(): string;
  /** The stream the archive's bytes are written to (with backpressure: memory stays bounded). */
  open(signal?: AbortSignal): Promise<Writable>;
  /** Checks what was stored against `info` (size, and the hash where the store can); nothing visible changes. */
  verify(info: CommitInfo, signal?: AbortSignal): Promise<void>;
  /** Writes sidecar files beside the (not yet published) archive, never replacing an existing file. */
  writeSidecars(files: readonly SidecarFile[], signal?: AbortSignal): Promise<void>;
  /** Publishes the verified archive under its final name, never replacing an existing one: the last step. */
  publish(info: CommitInfo, signal?: AbortSignal): Promise<Committed>;
  /** Removes anything of this write not published. */
  abort(): Promise<void>;
  /** Releases what this write holds (abort() first when not published). */
  close(): Promise<void>;
}

export interface CheckOptions {
  /** A dry run: check without creating anything (a missing local folder is fine if it could be created). */
  dryRun: boolean;
  signal?: AbortSignal;
}

export interface Store {
  readonly kind: StoreKind;
  /** The destination's name (settings `destinations[].name`; for the old keys: "local" / "s3"). */
  readonly name: string;
  /** The folder, s3://bucket/prefix, azure://account/container/prefix, sftp://user@host/path, remote:path. */
  readonly label: string;
  /**
   * A folder on this machine (the local kind only): kept out of the archive
   * when it lies inside a source, and where the job's lock lives.
   */
  readonly folder?: string;
  /**
   * Before a run writes anything: reachable, credentials accepted, the
   * bucket/container/folder exists (a local folder is created unless
   * dryRun), and it can be written. Throws a BackupError saying what to fix.
   */
  check(options: CheckOptions): Promise<void>;
  /** One archive's write; the store keeps serving reads meanwhile. */
  beginWrite(options: WriteOptions): ArchiveWrite;

  /** Files directly in the folder / directly under the prefix (temporary names of writes in progress excluded where they can be told apart). */
  list(signal?: AbortSignal): Promise<StoredFile[]>;
  /** One file's size and time; undefined if it does not exist. */
  stat(name: string, signal?: AbortSignal): Promise<StoredFile | undefined>;
  /** Where `name` is, for people. */
  locationOf(name: string): string;
  /**
   * The whole file as a stream (no temporary file). With `version` (from
   * openRanges), fails rather than read a file replaced since, where the
   * store can tell.
   */
  openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable>;
  /** Ranged reads of `name`, all of one and the same version of it where the store can tell. */
  openRanges(name: string, signal?: AbortSignal): Promise<RangeReader>;
  /** A small text file (a sidecar), undefined if it does not exist; refuses files above `maxBytes`. */
  readText(name: string, maxBytes: number, signal?: AbortSignal): Promise<string | undefined>;
  /** Writes a small text file atomically (replacing it): `NAME.verified.json`. */
  writeText(name: string, content: string, signal?: AbortSignal): Promise<void>;
  /** Deletes `name`; a file that is already gone is not an error. */
  remove(name: string, signal?: AbortSignal): Promise<void>;
  /** Releases clients, sockets and child processes; the store is not used after this. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The first check of a remote write before it is published: what was sent is
 * what was made (the byte count and, where the store hashed the bytes as it
 * sent them, their SHA-256). VERIFY_FAILED naming `where` otherwise.
 */
export function checkSent(where: string, sent: { bytes: number; sha256?: string }, info: CommitInfo): void {
  const fail = (why: string) => new DestinationError(`Verification failed: ${why} for ${where}; nothing was published.`, { code: 'VERIFY_FAILED' });
  if (sent.bytes !== info.bytes) throw fail(`${sent.bytes} bytes were sent, ${info.bytes} expected`);
  if (sent.sha256 !== undefined && sent.sha256 !== info.sha256) throw fail(`the SHA-256 of the bytes sent is ${sent.sha256}, ${info.sha256} expected`);
}
