import { describe, expect, it } from 'vitest';
import { centralHeader, dosDateTime, endRecords, localHeader, type ZipEntryInfo } from '../../src/archive/zip-format.js';

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
