/**
 * Reads a (decompressed) tar stream entry by entry: ustar, POSIX pax
 * extended headers (long or non-ASCII names, large sizes) and GNU long
 * names, as GNU tar, bsdtar and our own writer produce them. Header
 * decoding is node-tar's `Header`/`Pax`; the stream handling is ours, so a
 * slow consumer holds the stream back.
 */
import { Header, Pax } from 'tar';
import { ByteReader } from './byte-reader.js';
import { CorruptArchiveError, type ArchiveEntryKind, type EntryHandler, type ReadStats } from './archive-entry.js';

const BLOCK = 512;

const KINDS: Record<string, ArchiveEntryKind> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'dir',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
};

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

async function readText(reader: ByteReader, size: number, what: string): Promise<string> {
  if (size > 16 * 1024 * 1024) throw new CorruptArchiveError(`${what} of ${size} bytes at byte ${reader.offset} is implausibly large`);
  const data = await reader.readExactly(size, what);
  await reader.skip(padded(size) - size, what);
  return data.toString('utf8');
}

/** Reads every entry, calling `onEntry` for each; returns the counts. */
export async function readTar(source: AsyncIterable<Buffer>, onEntry: EntryHandler, stats: ReadStats): Promise<void> {
  const reader = new ByteReader(source);
  let extended: Pax | undefined;
  let global: Pax | undefined;
  let longPath: string | undefined;
  let longLink: string | undefined;
  let sawEnd = false;

  for (;;) {
    const at = reader.offset;
    const block = await reader.read(BLOCK, 'a tar header');
    if (block === undefined) break;
    const header = new Header(block, 0, extended, global);
    if (header.nullBlock) {
      sawEnd = true;
      break;
    }
    if (!header.cksumValid) {
      throw new CorruptArchiveError(`the tar header at byte ${at} has a wrong checksum (the archive is damaged)`);
    }
    const size = header.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0) throw new CorruptArchiveError(`the tar header at byte ${at} has an invalid size`);
    const type = header.type;

    if (type === 'ExtendedHeader' || type === 'GlobalExtendedHeader') {
      const text = await readText(reader, size, 'a pax header');
      if (type === 'GlobalExtendedHeader') global = Pax.parse(text, global, true);
      else extended = Pax.parse(text, extended, false);
      continue;
    }
    if (type === 'NextFileHasLongPath' || type === 'NextFileHasLongLinkpath') {
      const text = (await readText(reader, size, 'a GNU long name')).replace(/\0.*$/s, '');
      if (type === 'NextFileHasLongPath') longPath = text;
      else longLink = text;
      continue;
    }

    // The pax values win, as in node-tar's own ReadEntry: Header.decode still prepends the ustar
    // prefix field to a pax path, and reads linkpath from the ustar field after applying pax.
    const rawPath = longPath ?? extended?.path ?? global?.path ?? header.path ?? '';
    const linkTarget = longLink ?? extended?.linkpath ?? global?.linkpath ?? header.linkpath ?? undefined;
    extended = undefined;
    longPath = undefined;
    longLink = undefined;
    const kind: ArchiveEntryKind = KINDS[type] ?? 'other';
    // A directory may be stored with a trailing slash; a plain file with one is a directory in old tars.
    const isDirName = rawPath.endsWith('/');
    const entryPath = rawPath.replace(/\/+$/, '');
    const entry = {
      path: entryPath,
      kind: kind === 'file' && isDirName && type === 'OldFile' ? ('dir' as const) : kind,
      mode: (header.mode ?? 0o644) & 0o7777,
      mtime: header.mtime ?? new Date(0),
      size: kind === 'file' ? size : 0,
      linkTarget: kind === 'symlink' || kind === 'hardlink' ? linkTarget : undefined,
      typeName: kind === 'other' ? type : undefined,
    };
    // Folders and links carry no data; anything else's data is handed over (or skipped).
    const dataSize = kind === 'dir' || kind === 'symlink' || kind === 'hardlink' ? 0 : size;
    let consumed = 0;
    const body = (async function* () {
      for await (const piece of reader.take(dataSize, `the data of ${entryPath}`)) {
        consumed += piece.length;
        yield piece;
      }
    })();
    await onEntry(entry, body);
    if (consumed < dataSize) await reader.skip(dataSize - consumed, `the data of ${entryPath}`);
    await reader.skip(padded(dataSize) - dataSize + (dataSize === 0 ? padded(size) : 0), `the padding of ${entryPath}`);
    stats.entries += 1;
    if (entry.kind === 'file') {
      stats.files += 1;
      stats.fileBytes += size;
    } else if (entry.kind === 'hardlink') stats.files += 1; // another path of a file stored before: a file, no bytes
  }
  if (!sawEnd) {
    throw new CorruptArchiveError(`the tar stream ends at byte ${reader.offset} without its end marker (the archive is truncated)`);
  }
  // The rest is the second zero block and padding to the record size.
  await reader.drain();
}
