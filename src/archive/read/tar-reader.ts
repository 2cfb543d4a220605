/**
 * Reads a (decompressed) tar stream entry by entry, as GNU tar, bsdtar,
 * Python's tarfile and our own writer produce it: v7, ustar (with its
 * prefix field), POSIX pax extended and global headers, GNU long names and
 * links, base-256 numbers, and sparse files in every common form (old GNU
 * 'S' entries, and the pax formats 0.0, 0.1 and 1.0 that GNU tar and bsdtar
 * write). A sparse file's body is its real bytes, holes as zeros.
 *
 * Names are kept as bytes: a name that is not UTF-8 (GNU tar on a Latin-1
 * system) comes out with its exact bytes (ArchiveEntry.pathBytes).
 *
 * Everything an archive claims is bounded before anything is allocated for
 * it: long names and links, pax headers, the sparse map's entries and a
 * sparse file's size (its holes are streamed as views of one zero buffer).
 * The stream handling is pull-based, so a slow consumer holds the stream back.
 */
import { ByteReader } from './byte-reader.js';
import { CorruptArchiveError, decodeName, holePieces, printable, type ArchiveEntry, type ArchiveEntryKind, type EntryHandler, type ReadStats } from './archive-entry.js';

const BLOCK = 512;

/** The largest claims accepted; past them the archive is refused as damaged (or hostile). */
export const TAR_LIMITS = {
  /** A GNU long name or link, or a pax path or linkpath (Linux allows 4096 bytes). */
  nameBytes: 64 * 1024,
  /** One pax extended or global header. */
  paxBytes: 1024 * 1024,
  /** Entries in one sparse file's map. */
  sparseEntries: 1024 * 1024,
  /**
   * The real size of all sparse files of one archive together (16 TiB, ext4's largest file):
   * holes cost no archive bytes but every hole byte is still walked (restore seeks past it,
   * verify counts it), so a few KB of headers claiming petabytes would keep us busy for days.
   */
  sparseRealSize: 2 ** 44,
} as const;

const KINDS: Record<string, ArchiveEntryKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  S: 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '5': 'dir',
  // GNU incremental dumps: a folder whose data lists its contents.
  D: 'dir',
};

const OTHER_NAMES: Record<string, string> = {
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO (named pipe)',
  V: 'a GNU tar volume label',
  M: 'the continuation of a file begun in the previous volume of a multi-volume archive',
  N: 'an old GNU long-names record',
};

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function typeChar(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : byte === 0 ? '\0' : `\\x${byte.toString(16).padStart(2, '0')}`;
}

/** The bytes of a NUL-terminated field. */
function cString(field: Buffer): Buffer {
  const end = field.indexOf(0);
  return end === -1 ? field : field.subarray(0, end);
}

/** An octal or base-256 number field; undefined when it is empty, NaN when it is not a number. */
function numeric(field: Buffer): number | undefined {
  const first = field[0]!;
  if (first & 0x80) {
    // Base-256, two's complement: 0x80 marks a positive number, 0xff a negative one.
    const negative = first === 0xff;
    let value = negative ? 0 : first & 0x7f;
    for (let i = 1; i < field.length; i += 1) value = value * 256 + (negative ? 0xff - field[i]! : field[i]!);
    if (!Number.isSafeInteger(value)) return Number.NaN;
    return negative ? -(value + 1) : value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return undefined;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  const value = parseInt(text, 8);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

function modeOf(value: number | undefined): number {
  return value === undefined || Number.isNaN(value) ? 0o644 : value & 0o7777;
}

function checksumValid(block: Buffer): boolean {
  const stored = numeric(block.subarray(148, 156));
  if (stored === undefined || Number.isNaN(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i += 1) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // Some old tars summed signed bytes.
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 1) if (block[i] !== 0) return false;
  return true;
}

/** What a pax header (extended or global) says that this reader uses. */
interface PaxValues {
  path?: Buffer;
  linkpath?: Buffer;
  size?: number;
  mtime?: number;
  sparseName?: Buffer;
  sparseRealSize?: number;
  sparseMajor?: number;
  /** Format 0.1: offset,size,... in one value. Format 0.0: repeated offset / numbytes records. */
  sparseMap?: number[];
}

/** Thrown where the archive is wrong: `where` says which entry and byte. */
function damaged(where: string, what: string): CorruptArchiveError {
  return new CorruptArchiveError(`${where}: ${what}`);
}

function decimal(value: Buffer, where: string, key: string, fraction = false): number {
  const text = value.toString('latin1');
  const ok = fraction ? /^-?\d+(\.\d+)?$/.test(text) : /^\d+$/.test(text);
  const number = Number(text);
  if (!ok || !Number.isFinite(number) || (!fraction && !Number.isSafeInteger(number))) {
    throw damaged(where, `the pax record ${key} has an invalid value`);
  }
  return number;
}

function parsePax(data: Buffer, into: PaxValues, where: string): PaxValues {
  const out: PaxValues = { ...into };
  let zeroZero = false;
  const offsets: number[] = [];
  const sizes: number[] = [];
  let at = 0;
  while (at < data.length) {
    // The header's data may be padded with NULs.
    if (data[at] === 0) break;
    const space = data.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : data.toString('latin1', at, space);
    const length = /^\d{1,8}$/.test(lengthText) ? Number(lengthText) : Number.NaN;
    if (!(length > space - at + 1) || at + length > data.length || data[at + length - 1] !== 0x0a) {
      throw damaged(where, `the pax header is malformed at its byte ${at}`);
    }
    const record = data.subarray(space + 1, at + length - 1);
    at += length;
    const equals = record.indexOf(0x3d);
    if (equals === -1) throw damaged(where, `the pax header has a record without "="`);
    const key = record.toString('utf8', 0, equals);
    const value = record.subarray(equals + 1);
    const empty = value.length === 0;
    const name = (): Buffer | undefined => {
      if (value.length > TAR_LIMITS.nameBytes) {
        throw damaged(where, `the pax ${key} is ${value.length} bytes long, over the limit of ${TAR_LIMITS.nameBytes} bytes`);
      }
      return empty ? undefined : Buffer.from(value);
    };
    switch (key) {
      case 'path':
        out.path = name();
        break;
      case 'linkpath':
        out.linkpath = name();
        break;
      case 'size':
        out.size = empty ? undefined : decimal(value, where, key);
        break;
      case 'mtime':
        out.mtime = empty ? undefined : decimal(value, where, key, true);
        break;
      case 'GNU.sparse.name':
        out.sparseName = name();
        break;
      case 'GNU.sparse.size':
      case 'GNU.sparse.realsize':
        out.sparseRealSize = decimal(value, where, key);
        break;
      case 'GNU.sparse.major':
        out.sparseMajor = decimal(value, where, key);
        break;
      case 'GNU.sparse.numblocks': {
        const count = decimal(value, where, key);
        if (count > TAR_LIMITS.sparseEntries) throw damaged(where, `the sparse map claims ${count} entries, over the limit of ${TAR_LIMITS.sparseEntries}`);
        break;
      }
      case 'GNU.sparse.offset':
        zeroZero = true;
        offsets.push(decimal(value, where, key));
        break;
      case 'GNU.sparse.numbytes':
        zeroZero = true;
        sizes.push(decimal(value, where, key));
        break;
      case 'GNU.sparse.map': {
        const text = value.toString('latin1');
        const numbers = text === '' ? [] : text.split(',');
        if (numbers.length % 2 !== 0) throw damaged(where, 'the sparse map (GNU.sparse.map) has an odd number of values');
        out.sparseMap = numbers.map((n) => decimal(Buffer.from(n, 'latin1'), where, key));
        break;
      }
      default:
        // hdrcharset, atime, ctime, uid, gid, uname, gname, SCHILY.*, LIBARCHIVE.*: not used.
        break;
    }
    if (offsets.length + sizes.length > 2 * TAR_LIMITS.sparseEntries) {
      throw damaged(where, `the sparse map has more than ${TAR_LIMITS.sparseEntries} entries`);
    }
  }
  if (zeroZero) {
    if (offsets.length !== sizes.length) throw damaged(where, 'the sparse map (GNU.sparse.offset / numbytes) is not in pairs');
    out.sparseMap = offsets.flatMap((offset, i) => [offset, sizes[i]!]);
  }
  return out;
}

/** Old GNU sparse entries ('S'): up to `count` (offset, numbytes) pairs of 12-byte numbers from `at`. */
function gnuSparsePairs(block: Buffer, at: number, count: number, map: number[], where: string): void {
  for (let i = 0; i < count; i += 1) {
    const start = at + i * 24;
    if (block[start] === 0) return;
    const offset = numeric(block.subarray(start, start + 12));
    const size = numeric(block.subarray(start + 12, start + 24));
    if (offset === undefined || size === undefined || Number.isNaN(offset) || Number.isNaN(size) || offset < 0 || size < 0) {
      throw damaged(where, 'the GNU sparse map has an invalid entry');
    }
    map.push(offset, size);
  }
}

/**
 * Checks a sparse map against the sizes and returns the real size: the data
 * pieces in order, not overlapping, inside the real size, and no more data
 * than is stored.
 */
function checkSparseMap(map: number[], realSize: number | undefined, stored: number, where: string, budget: { sparseLeft: number }): number {
  let end = 0;
  let data = 0;
  for (let i = 0; i < map.length; i += 2) {
    const offset = map[i]!;
    const size = map[i + 1]!;
    if (offset < end) throw damaged(where, 'the sparse map is out of order or overlaps itself');
    end = offset + size;
    data += size;
  }
  const real = realSize ?? end;
  if (!Number.isSafeInteger(real) || real < end) throw damaged(where, `the sparse map reaches byte ${end}, past the file's size of ${real} bytes`);
  budget.sparseLeft -= real;
  if (budget.sparseLeft < 0) {
    throw damaged(where, `the sparse files claim ${TAR_LIMITS.sparseRealSize - budget.sparseLeft} bytes together, over the limit of ${TAR_LIMITS.sparseRealSize} bytes for one archive`);
  }
  if (data > stored) throw damaged(where, `the sparse map lists ${data} bytes of data, but only ${stored} are stored`);
  return real;
}

/** Reads every entry, calling `onEntry` for each, and counts them into `stats`. */
export async function readTar(source: AsyncIterable<Buffer>, onEntry: EntryHandler, stats: ReadStats): Promise<void> {
  const reader = new ByteReader(source);
  let extended: PaxValues | undefined;
  let global: PaxValues = {};
  let longPath: Buffer | undefined;
  let longLink: Buffer | undefined;
  let sawEnd = false;
  let index = 0;
  const budget = { sparseLeft: TAR_LIMITS.sparseRealSize };

  for (;;) {
    const at = reader.offset;
    const where = `entry ${index + 1} (the tar header at byte ${at})`;
    const block = await reader.read(BLOCK, 'a tar header');
    if (block === undefined) break;
    if (isZeroBlock(block)) {
      sawEnd = true;
      break;
    }
    if (!checksumValid(block)) throw damaged(where, 'the header has a wrong checksum (the archive is damaged)');
    const type = typeChar(block[156]!);
    const magic = block.toString('latin1', 257, 265);
    const gnu = magic === 'ustar  \0';
    // POSIX ustar (and pax): the name may continue in the prefix field. GNU uses that room for other things.
    const ustar = magic.startsWith('ustar\0');
    const headerSize = numeric(block.subarray(124, 136)) ?? 0;
    if (!Number.isSafeInteger(headerSize) || headerSize < 0) throw damaged(where, 'the header has an invalid size');

    if (type === 'x' || type === 'g' || type === 'X') {
      const size = headerSize;
      if (size > TAR_LIMITS.paxBytes) throw damaged(where, `a pax header of ${size} bytes, over the limit of ${TAR_LIMITS.paxBytes} bytes`);
      const data = await reader.readExactly(size, 'a pax header');
      await reader.skip(padded(size) - size, 'a pax header');
      if (type === 'g') global = parsePax(data, global, where);
      else extended = parsePax(data, extended ?? {}, where);
      continue;
    }
    if (type === 'L' || type === 'K') {
      const size = headerSize;
      const what = type === 'L' ? 'GNU long name' : 'GNU long link target';
      if (size > TAR_LIMITS.nameBytes) throw damaged(where, `a ${what} of ${size} bytes, over the limit of ${TAR_LIMITS.nameBytes} bytes`);
      const data = Buffer.from(cString(await reader.readExactly(size, `a ${what}`)));
      await reader.skip(padded(size) - size, `a ${what}`);
      if (type === 'L') longPath = data;
      else longLink = data;
      continue;
    }

    const pax = extended ?? {};
    extended = undefined;
    // A pax size replaces the header's (files over 8 GiB).
    const size = pax.size ?? headerSize;
    let nameBytes = cString(block.subarray(0, 100));
    if (ustar) {
      const prefix = cString(block.subarray(345, 500));
      if (prefix.length > 0) nameBytes = Buffer.concat([prefix, Buffer.from('/'), nameBytes]);
    }
    const rawPath = pax.sparseName ?? longPath ?? pax.path ?? global.path ?? nameBytes;
    const rawLink = longLink ?? pax.linkpath ?? global.linkpath ?? cString(block.subarray(157, 257));
    longPath = undefined;
    longLink = undefined;

    let kind: ArchiveEntryKind = KINDS[type] ?? 'other';
    // A directory may be stored with a trailing slash; a plain file with one is a directory in old tars.
    let trimmed = rawPath.length;
    while (trimmed > 0 && rawPath[trimmed - 1] === 0x2f) trimmed -= 1;
    if (kind === 'file' && type === '\0' && trimmed < rawPath.length) kind = 'dir';
    const name = decodeName(rawPath.subarray(0, trimmed));
    const link = kind === 'symlink' || kind === 'hardlink' ? decodeName(rawLink) : undefined;

    // The sparse map, if any: from the old GNU header and its extension blocks, from the pax
    // header (formats 0.0 and 0.1), or from the start of the data (format 1.0).
    let taken = 0;
    let map: number[] | undefined;
    let realSize = size;
    if (kind === 'file' && type === 'S') {
      map = [];
      gnuSparsePairs(block, 386, 4, map, where);
      let more = block[482] !== 0;
      while (more) {
        const extension = await reader.readExactly(BLOCK, 'a GNU sparse map block');
        gnuSparsePairs(extension, 0, 21, map, where);
        if (map.length > 2 * TAR_LIMITS.sparseEntries) throw damaged(where, `the sparse map has more than ${TAR_LIMITS.sparseEntries} entries`);
        more = extension[504] !== 0;
      }
      const declared = gnu ? numeric(block.subarray(483, 495)) : undefined;
      if (declared !== undefined && Number.isNaN(declared)) throw damaged(where, 'the GNU sparse header has an invalid real size');
      realSize = checkSparseMap(map, declared || undefined, size, where, budget);
    } else if (kind === 'file' && pax.sparseMajor === 1) {
      map = [];
      let text = '';
      let count: number | undefined;
      // Decimal lines: the number of entries, then offset and size of each; padded to a block.
      while (count === undefined || map.length < 2 * count) {
        if (taken + BLOCK > size) throw damaged(where, 'the sparse map (format 1.0) runs past the entry\'s data');
        text += (await reader.readExactly(BLOCK, 'a sparse map')).toString('latin1');
        taken += BLOCK;
        const lines = text.split('\n');
        text = lines.pop()!;
        for (const line of lines) {
          if (count !== undefined && map.length >= 2 * count) break;
          const value = decimal(Buffer.from(line, 'latin1'), where, 'sparse map');
          if (count === undefined) {
            if (value > TAR_LIMITS.sparseEntries) throw damaged(where, `the sparse map claims ${value} entries, over the limit of ${TAR_LIMITS.sparseEntries}`);
            count = value;
          } else map.push(value);
        }
        if ((count === undefined || map.length < 2 * count) && text.length > 20) {
          throw damaged(where, 'the sparse map (format 1.0) has a line that is not a number');
        }
      }
      realSize = checkSparseMap(map, pax.sparseRealSize, size - taken, where, budget);
    } else if (kind === 'file' && pax.sparseMap !== undefined) {
      map = pax.sparseMap;
      realSize = checkSparseMap(map, pax.sparseRealSize, size, where, budget);
    }

    const mtime = new Date(1000 * (pax.mtime ?? global.mtime ?? (numeric(block.subarray(136, 148)) || 0)));
    if (Number.isNaN(mtime.getTime())) throw damaged(where, 'the modification time is out of any possible range');
    const entry: ArchiveEntry = {
      path: name.text,
      kind,
      mode: modeOf(numeric(block.subarray(100, 108))),
      mtime,
      size: kind === 'file' ? realSize : 0,
    };
    if (name.raw) entry.pathBytes = name.raw;
    if (link) {
      entry.linkTarget = link.text;
      if (link.raw) entry.linkTargetBytes = link.raw;
    }
    if (kind === 'other') entry.typeName = OTHER_NAMES[type] ?? `an entry of unknown type '${type}'`;
    if (map) entry.sparse = true;
    const dataWhat = `the data of ${printable(name.text)}`;
    const take = async function* (n: number): AsyncGenerator<Buffer> {
      for await (const piece of reader.take(n, dataWhat)) {
        taken += piece.length;
        yield piece;
      }
    };
    const sparseMap = map;
    const body = (async function* (): AsyncGenerator<Buffer> {
      if (kind !== 'file') return;
      if (!sparseMap) {
        yield* take(size);
        return;
      }
      let position = 0;
      for (let i = 0; i < sparseMap.length; i += 2) {
        yield* holePieces(sparseMap[i]! - position);
        yield* take(sparseMap[i + 1]!);
        position = sparseMap[i]! + sparseMap[i + 1]!;
      }
      yield* holePieces(realSize - position);
    })();
    index += 1;
    await onEntry(entry, body);
    // Whatever the handler left (and anything that is not content) is skipped, with the padding.
    await reader.skip(size - taken, dataWhat);
    await reader.skip(padded(size) - size, `the padding of ${printable(name.text)}`);
    stats.entries += 1;
    if (kind === 'file') {
      stats.files += 1;
      stats.fileBytes += entry.size;
    } else if (entry.kind === 'hardlink') stats.files += 1; // another path of a file stored before: a file, no bytes
  }
  if (!sawEnd) {
    throw new CorruptArchiveError(`the tar stream ends at byte ${reader.offset} without its end marker (the archive is truncated)`);
  }
  // The rest is the second zero block and padding to the record size: zeros. Anything else is
  // entries after a lone zero block, or another archive appended: tar stops at the marker too
  // (GNU tar warns), so they would be dropped without a word. Damage, said where.
  const end = reader.offset - BLOCK;
  const more = await reader.drainZeros();
  if (more !== undefined) {
    throw new CorruptArchiveError(
      `the tar stream has more data at byte ${more}, after its end-of-archive marker at byte ${end} (entries after a lone zero block, or another archive appended); they were not read: list them with \`tar -i -tvf\``,
    );
  }
}
