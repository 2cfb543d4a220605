/**
 * One entry read back from an archive (zip or tar), as the verifier and the
 * restorer see it: the format's details are the readers' business.
 */

export type ArchiveEntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface ArchiveEntry {
  /** The path as stored, without a trailing slash for folders. Not yet checked: see safe-path.ts. */
  path: string;
  kind: ArchiveEntryKind;
  /** Permission bits (0o7777). */
  mode: number;
  mtime: Date;
  /** Bytes of content (files; a zip symlink's target is its content, but size here is 0 for links). */
  size: number;
  /** Symlink target, or the path a hard link points to. */
  linkTarget?: string;
  /** The format's own name for an `other` entry (FIFO, device, ...). */
  typeName?: string;
}

/**
 * Called once per entry, in archive order. `body` yields the entry's content
 * (checked against the format's own CRC or length as it goes); the reader
 * skips whatever the handler leaves unread.
 */
export type EntryHandler = (entry: ArchiveEntry, body: AsyncIterable<Buffer>) => Promise<void>;

export interface ReadStats {
  /** Entries seen (files, folders, links, others). */
  entries: number;
  /** Regular files seen. */
  files: number;
  /** Bytes of regular-file content. */
  fileBytes: number;
}

export function emptyStats(): ReadStats {
  return { entries: 0, files: 0, fileBytes: 0 };
}

/** An archive that does not parse: where, and what is wrong. */
export class CorruptArchiveError extends Error {}
CorruptArchiveError.prototype.name = 'CorruptArchiveError';
