import { describe, expect, it } from 'vitest';
import { centralHeader, dosDateTime, endRecords, localHeader, timestampSeconds, type ZipEntryInfo } from '../../src/archive/zip-format.js';

describe('dosDateTime (local time, 2-second steps)', () => {
  it.each([
    [new Date(2026, 10, 26, 2, 3, 5), ((2026 - 1980) << 9) | (11 << 5) | 26, (2 << 11) | (3 << 5) | 2],
    [new Date(1980, 0, 1, 0, 0, 0), (0 << 9) | (1 << 5) | 1, 0],
    [new Date(1970, 0, 1, 0, 0, 0), (0 << 9) | (1 << 5) | 1, 0],
  ])('%s', (date, dosDate, dosTime) => {
    expect(dosDateTime(date)).toEqual({ date: dosDate, time: dosTime });
  });
});

const entry: ZipEntryInfo = {
  name: 'data/ünï.txt',
  mode: 0o100755,
  mtime: new Date(Date.UTC(2026, 10, 26, 2, 0, 0)),
  method: 8,
  crc: 0xdeadbeef,
  compressedSize: 10,
  size: 20,
  offset: 0,
  descriptor: false,
  zip64: false,
};

describe('headers', () => {
  it('sets the UTF-8 flag for non-ASCII names and keeps the Unix mode', () => {
    const local = localHeader(entry);
    expect(local.readUInt16LE(6) & (1 << 11)).toBeTruthy();
    const central = centralHeader(entry);
    expect(central.readUInt16LE(4) >> 8).toBe(3); // made by Unix
    expect(central.readUInt32LE(38) >>> 16).toBe(0o100755);
  });

  it('uses zip64 fields only where a value does not fit in 32 bits', () => {
    const small = centralHeader(entry);
    const big = centralHeader({ ...entry, size: 5 * 2 ** 30, compressedSize: 2 ** 20, offset: 6 * 2 ** 30 });
    expect(small.readUInt32LE(24)).toBe(20);
    expect(big.readUInt32LE(24)).toBe(0xffffffff); // size -> zip64
    expect(big.readUInt32LE(20)).toBe(2 ** 20); // compressed size fits
    expect(big.readUInt32LE(42)).toBe(0xffffffff); // offset -> zip64
    expect(big.length - small.length).toBe(4 + 16); // one zip64 field with two values
  });

  it('writes zip64 end records past 65,534 entries or 4 GiB, the classic record otherwise', () => {
    expect(endRecords(10, 100, 50).length).toBe(22);
    const many = endRecords(70_000, 100, 50);
    expect(many.length).toBe(56 + 20 + 22);
    expect(many.readUInt32LE(0)).toBe(0x06064b50);
    expect(many.readBigUInt64LE(32)).toBe(70_000n);
    expect(many.readUInt16LE(56 + 20 + 8)).toBe(0xffff);
    expect(endRecords(1, 5 * 2 ** 30, 50).length).toBe(56 + 20 + 22);
  });
});

describe('times outside the DOS and 32-bit ranges', () => {
  it.each([
    ['1969-07-20T20:17:40Z', -14182940],
    ['1901-12-13T20:45:52Z', -0x80000000],
    ['2038-01-19T03:14:07Z', 0x7fffffff],
    ['1901-12-13T20:45:51Z', undefined],
    ['2038-01-19T03:14:08Z', undefined],
    ['2040-01-01T00:00:00Z', undefined],
    ['1970-01-01T00:00:00.999Z', 0],
    ['1969-12-31T23:59:59.500Z', -1],
  ])('timestamp field for %s: %s', (iso, seconds) => {
    expect(timestampSeconds(new Date(iso))).toBe(seconds);
  });

  it('writes the timestamp signed, and leaves it out where it does not fit', () => {
    const moon = localHeader({ ...entry, name: 'a', mtime: new Date('1969-07-20T20:17:40Z') });
    expect(moon.readUInt16LE(28)).toBe(9);
    expect(moon.readUInt16LE(30 + 1)).toBe(0x5455);
    expect(moon.readInt32LE(30 + 1 + 5)).toBe(-14182940);
    const future = centralHeader({ ...entry, name: 'a', mtime: new Date(2040, 0, 1) });
    expect(future.readUInt16LE(30)).toBe(0);
    expect(future.length).toBe(46 + 1);
    expect(dosDateTime(new Date(2040, 0, 1))).toEqual({ date: (60 << 9) | (1 << 5) | 1, time: 0 });
  });

  it('clamps the DOS time to 2107-12-31 23:59:58 after 2107', () => {
    expect(dosDateTime(new Date(2200, 5, 6))).toEqual({ date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 });
  });
});
