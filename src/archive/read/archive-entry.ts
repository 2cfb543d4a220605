/**
 * One entry read back from an archive (zip or tar), as the verifier and the
 * restorer see it: the format's details are the readers' business.
 */
import { isUtf8 } from 'node:buffer';

export type ArchiveEntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface ArchiveEntry {
  /**
   * The path as stored, without a trailing slash for folders. Not yet checked: see safe-path.ts.
   * When the stored name is not valid UTF-8, this is a display form (bytes that are not UTF-8 as
   * `\xNN`) and `pathBytes` holds the exact bytes, which are what gets restored.
   */
  path: string;
  /** The exact bytes of the name, present only when they are not valid UTF-8. */
  pathBytes?: Buffer;
  kind: ArchiveEntryKind;
  /** Permission bits (0o7777). */
  mode: number;
  mtime: Date;
  /** Bytes of content (files; a zip symlink's target is its content, but size here is 0 for links). For a sparse file, its full size, holes included. */
  size: number;
  /** Symlink target, or the path a hard link points to (display form, as for `path`). */
  linkTarget?: string;
  /** The exact bytes of `linkTarget`, present only when they are not valid UTF-8. */
  linkTargetBytes?: Buffer;
  /** The format's own name for an `other` entry (FIFO, device, ...), said so a person understands it. */
  typeName?: string;
  /** A sparse file: its body yields hole pieces (see isHole) where the file has holes. */
  sparse?: boolean;
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

/**
 * The zeros of a sparse file's holes: every hole piece a body yields is a view of this one
 * read-only-by-convention buffer, so memory stays flat whatever size a hole claims, and a
 * writer can tell a hole (seek past it) from data that happens to be zeros.
 */
const HOLE = Buffer.alloc(1024 * 1024);

/** `n` bytes of hole, in pieces of at most 1 MiB (all views of one buffer). */
export function* holePieces(n: number): Generator<Buffer> {
  for (let left = n; left > 0; left -= HOLE.length) yield HOLE.subarray(0, Math.min(left, HOLE.length));
}

/** Is this piece of a body a hole (zeros not stored in the archive)? */
export function isHole(piece: Buffer): boolean {
  return piece.buffer === HOLE.buffer;
}

/**
 * A name's bytes as text: the UTF-8 string when they are valid UTF-8 (`raw` undefined), else a
 * display form with each byte that is not part of a valid UTF-8 character as `\xNN`, and the
 * bytes themselves in `raw`.
 */
export function decodeName(bytes: Buffer): { text: string; raw?: Buffer } {
  if (isUtf8(bytes)) return { text: bytes.toString('utf8') };
  let text = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len > 0 && i + len <= bytes.length && isUtf8(bytes.subarray(i, i + len))) {
      text += bytes.toString('utf8', i, i + len);
      i += len;
    } else {
      text += `\\x${b.toString(16).padStart(2, '0')}`;
      i += 1;
    }
  }
  return { text, raw: Buffer.from(bytes) };
}

export { printable } from '../../log/printable.js';
