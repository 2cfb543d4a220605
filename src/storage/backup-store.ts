/**
 * The read side of a destination, for list / verify / restore / prune: what
 * files are there, read one (as a stream or by ranges), write a small
 * sidecar, delete. Like `Destination`, a store knows nothing about archive
 * formats.
 */
import type { Readable } from 'node:stream';

export interface StoredFile {
  /** The file name in the folder, or the key below the prefix. */
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

export interface BackupStore {
  readonly kind: 'local' | 's3';
  /** The folder, or s3://bucket/prefix, for messages. */
  readonly label: string;
  /** Files directly in the folder / directly under the prefix. */
  list(signal?: AbortSignal): Promise<StoredFile[]>;
  /** One file's size and time; undefined if it does not exist. */
  stat(name: string, signal?: AbortSignal): Promise<StoredFile | undefined>;
  /** Where `name` is, for people: a path or an s3:// URL. */
  locationOf(name: string): string;
  /**
   * The whole file as a stream (from S3: one GET, no temporary file). With
   * `version` (from openRanges), fails rather than read a file replaced since.
   */
  openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable>;
  /** Ranged reads of `name`, all of one and the same version of it. */
  openRanges(name: string, signal?: AbortSignal): Promise<RangeReader>;
  /** A small text file (a sidecar), undefined if it does not exist; refuses files above `maxBytes`. */
  readText(name: string, maxBytes: number, signal?: AbortSignal): Promise<string | undefined>;
  /** Writes a small text file atomically (replacing it). */
  writeText(name: string, content: string, signal?: AbortSignal): Promise<void>;
  /** Deletes `name`; a file that is already gone is not an error. */
  remove(name: string, signal?: AbortSignal): Promise<void>;
  /** Releases connections (S3: destroys the client); the store is not used after this. */
  close?(): void;
}
