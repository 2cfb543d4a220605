/**
 * The bytes of the zip format (APPNOTE 6.3): local headers, data
 * descriptors, central directory entries and the end records, with zip64
 * where a size, an offset or the entry count needs it. Pure: no I/O.
 *
 * What Info-ZIP's unzip and Python's zipfile need to restore files as they
 * were: "made by Unix" with the mode (file type and permission bits) in the
 * external attributes, the UTF-8 flag for non-ASCII names, and the
 * extended-timestamp extra field (0x5455) with the mtime in UTC next to the
 * DOS time. Times: the DOS field holds local time in 2-second steps from
 * 1980 to 2107 (clamped at both ends); the timestamp field holds whole
 * seconds, signed 32-bit, 1901-12-13 to 2038-01-19 UTC, and is left out
 * for a time outside that range, so that readers use the DOS time instead
 * of a wrong one (Info-ZIP's unzip then restores e.g. 2040-01-01 to the
 * 2 seconds, in local time).
 */

export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;

export const SIG_LOCAL = 0x04034b50;
export const SIG_DESCRIPTOR = 0x08074b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_ZIP64_END = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const SIG_END = 0x06054b50;

const FLAG_DESCRIPTOR = 1 << 3;
const FLAG_UTF8 = 1 << 11;
export const MAX32 = 0xffffffff;
export const MAX16 = 0xffff;
/** st_mode file-type bits, as stored in a zip's external attributes. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
/** "Made by" Unix (3), spec 4.5; needed: 2.0, or 4.5 with zip64. */
const MADE_BY = (3 << 8) | 45;
const NEEDS_20 = 20;
const NEEDS_ZIP64 = 45;

export interface ZipEntryInfo {
  /** Path inside the archive; folders end with '/'. */
  name: string;
  /** st_mode, file type bits included (S_IFREG, S_IFDIR, S_IFLNK). */
  mode: number;
  mtime: Date;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the local header in the archive. */
  offset: number;
  /** Sizes and CRC follow the data in a descriptor (streamed entries). */
  descriptor: boolean;
  /** Local header and descriptor use zip64 (decided before the data, from the size known then). */
  zip64: boolean;
}

/** DOS date and time, local time, 2-second precision; before 1980 is 1980-01-01, after 2107 2107-12-31 23:59:58. */
export function dosDateTime(date: Date): { date: number; time: number } {
  if (date.getFullYear() < 1980) return { date: (0 << 9) | (1 << 5) | 1, time: 0 };
  if (date.getFullYear() > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  return {
    date: ((date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
  };
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/**
 * Seconds since 1970 for the extended timestamp field, a signed 32-bit
 * number (1901-12-13 to 2038-01-19 UTC), or undefined outside that range:
 * the field is then left out, and readers fall back to the DOS time.
 */
export function timestampSeconds(date: Date): number | undefined {
  const seconds = Math.floor(date.getTime() / 1000);
  return seconds >= INT32_MIN && seconds <= INT32_MAX ? seconds : undefined;
}

function flags(entry: ZipEntryInfo): number {
  // eslint-disable-next-line no-control-regex
  return (entry.descriptor ? FLAG_DESCRIPTOR : 0) | (/[^\x00-\x7f]/.test(entry.name) ? FLAG_UTF8 : 0);
}

/*
 * Headers are written into one buffer each, from Buffer.allocUnsafe's pool:
 * tens of thousands of entries must not mean hundreds of thousands of
 * small native allocations (memory and GC pressure grew with the entry count).
 * Every byte of a header is written below, so "unsafe" memory never leaks out.
 */

const TIMESTAMP_EXTRA = 9;

function timestampExtraLength(mtime: Date): number {
  return timestampSeconds(mtime) === undefined ? 0 : TIMESTAMP_EXTRA;
}

/**
 * Extended timestamp (0x5455): flags=1 (mtime), mtime in seconds since 1970,
 * UTC, signed (Info-ZIP and Python read it so; 1969 is -1...). Nothing when
 * the time does not fit (see timestampSeconds).
 */
function writeTimestampExtra(buffer: Buffer, at: number, mtime: Date): number {
  const seconds = timestampSeconds(mtime);
  if (seconds === undefined) return at;
  buffer.writeUInt16LE(0x5455, at);
  buffer.writeUInt16LE(5, at + 2);
  buffer.writeUInt8(1, at + 4);
  buffer.writeInt32LE(seconds, at + 5);
  return at + TIMESTAMP_EXTRA;
}

/** Zip64 extended information (0x0001) with the given 64-bit values. */
function writeZip64Extra(buffer: Buffer, at: number, values: number[]): number {
  buffer.writeUInt16LE(0x0001, at);
  buffer.writeUInt16LE(8 * values.length, at + 2);
  values.forEach((value, i) => buffer.writeBigUInt64LE(BigInt(value), at + 4 + 8 * i));
  return at + 4 + 8 * values.length;
}

export function localHeader(entry: ZipEntryInfo): Buffer {
  const nameLength = Buffer.byteLength(entry.name, 'utf8');
  const { date, time } = dosDateTime(entry.mtime);
  // With a descriptor the CRC and sizes are not known yet: zero here (zip64: 0xFFFFFFFF + a zip64 field of zeros).
  const known = !entry.descriptor;
  const extraLength = timestampExtraLength(entry.mtime) + (entry.zip64 ? 20 : 0);
  const header = Buffer.allocUnsafe(30 + nameLength + extraLength);
  header.writeUInt32LE(SIG_LOCAL, 0);
  header.writeUInt16LE(entry.zip64 ? NEEDS_ZIP64 : NEEDS_20, 4);
  header.writeUInt16LE(flags(entry), 6);
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt16LE(time, 10);
  header.writeUInt16LE(date, 12);
  header.writeUInt32LE(known ? entry.crc >>> 0 : 0, 14);
  header.writeUInt32LE(entry.zip64 ? MAX32 : known ? entry.compressedSize : 0, 18);
  header.writeUInt32LE(entry.zip64 ? MAX32 : known ? entry.size : 0, 22);
  header.writeUInt16LE(nameLength, 26);
  header.writeUInt16LE(extraLength, 28);
  header.write(entry.name, 30, 'utf8');
  const at = writeTimestampExtra(header, 30 + nameLength, entry.mtime);
  if (entry.zip64) writeZip64Extra(header, at, known ? [entry.size, entry.compressedSize] : [0, 0]);
  return header;
}

export function dataDescriptor(entry: ZipEntryInfo): Buffer {
  if (entry.zip64) {
    const d = Buffer.allocUnsafe(24);
    d.writeUInt32LE(SIG_DESCRIPTOR, 0);
    d.writeUInt32LE(entry.crc >>> 0, 4);
    d.writeBigUInt64LE(BigInt(entry.compressedSize), 8);
    d.writeBigUInt64LE(BigInt(entry.size), 16);
    return d;
  }
  const d = Buffer.allocUnsafe(16);
  d.writeUInt32LE(SIG_DESCRIPTOR, 0);
  d.writeUInt32LE(entry.crc >>> 0, 4);
  d.writeUInt32LE(entry.compressedSize, 8);
  d.writeUInt32LE(entry.size, 12);
  return d;
}

/** S_IFDIR entries also get the MS-DOS directory attribute, as Info-ZIP writes. */
function externalAttributes(mode: number): number {
  const dosDirectory = (mode & S_IFMT) === S_IFDIR ? 0x10 : 0;
  return ((mode & 0xffff) * 0x10000 + dosDirectory) >>> 0;
}

export function centralHeader(entry: ZipEntryInfo): Buffer {
  const nameLength = Buffer.byteLength(entry.name, 'utf8');
  const { date, time } = dosDateTime(entry.mtime);
  const big: number[] = [];
  if (entry.size >= MAX32) big.push(entry.size);
  if (entry.compressedSize >= MAX32) big.push(entry.compressedSize);
  if (entry.offset >= MAX32) big.push(entry.offset);
  const zip64 = big.length > 0 || entry.zip64;
  const extraLength = timestampExtraLength(entry.mtime) + (big.length > 0 ? 4 + 8 * big.length : 0);
  const header = Buffer.allocUnsafe(46 + nameLength + extraLength);
  header.writeUInt32LE(SIG_CENTRAL, 0);
  header.writeUInt16LE(MADE_BY, 4);
  header.writeUInt16LE(zip64 ? NEEDS_ZIP64 : NEEDS_20, 6);
  header.writeUInt16LE(flags(entry), 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(time, 12);
  header.writeUInt16LE(date, 14);
  header.writeUInt32LE(entry.crc >>> 0, 16);
  header.writeUInt32LE(Math.min(entry.compressedSize, MAX32), 20);
  header.writeUInt32LE(Math.min(entry.size, MAX32), 24);
  header.writeUInt16LE(nameLength, 28);
  header.writeUInt16LE(extraLength, 30);
  header.writeUInt16LE(0, 32); // comment length
  header.writeUInt16LE(0, 34); // disk
  header.writeUInt16LE(0, 36); // internal attributes
  header.writeUInt32LE(externalAttributes(entry.mode), 38);
  header.writeUInt32LE(Math.min(entry.offset, MAX32), 42);
  header.write(entry.name, 46, 'utf8');
  const at = writeTimestampExtra(header, 46 + nameLength, entry.mtime);
  if (big.length > 0) writeZip64Extra(header, at, big);
  return header;
}

/** The end of the archive: zip64 end record and locator when needed, then the classic end record. */
export function endRecords(count: number, centralOffset: number, centralSize: number): Buffer {
  const parts: Buffer[] = [];
  const zip64 = count >= MAX16 || centralOffset >= MAX32 || centralSize >= MAX32;
  if (zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(SIG_ZIP64_END, 0);
    record.writeBigUInt64LE(44n, 4); // size of the rest of this record
    record.writeUInt16LE(MADE_BY, 12);
    record.writeUInt16LE(NEEDS_ZIP64, 14);
    record.writeUInt32LE(0, 16); // this disk
    record.writeUInt32LE(0, 20); // disk with the central directory
    record.writeBigUInt64LE(BigInt(count), 24);
    record.writeBigUInt64LE(BigInt(count), 32);
    record.writeBigUInt64LE(BigInt(centralSize), 40);
    record.writeBigUInt64LE(BigInt(centralOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
    locator.writeUInt32LE(0, 4);
    locator.writeBigUInt64LE(BigInt(centralOffset + centralSize), 8);
    locator.writeUInt32LE(1, 16);
    parts.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(SIG_END, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(Math.min(count, MAX16), 8);
  end.writeUInt16LE(Math.min(count, MAX16), 10);
  end.writeUInt32LE(Math.min(centralSize, MAX32), 12);
  end.writeUInt32LE(Math.min(centralOffset, MAX32), 16);
  end.writeUInt16LE(0, 20);
  parts.push(end);
  return Buffer.concat(parts);
}
