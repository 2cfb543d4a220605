import { describe, expect, it } from 'vitest';
import { paxTime } from '../../src/archive/tar-writer.js';

describe('paxTime (pax mtime records, to the nanosecond)', () => {
  it.each([
    [0n, '0'],
    [1_714_979_289_123_456_789n, '1714979289.123456789'],
    [1_714_979_289_500_000_000n, '1714979289.5'],
    [1_714_979_289_000_000_000n, '1714979289'],
    [1_000_000_001n, '1.000000001'],
    [-1_500_000_000n, '-1.5'],
    [-14_182_940_000_000_000n, '-14182940'],
  ])('%s ns -> %s', (ns, text) => {
    expect(paxTime(ns)).toBe(text);
  });
});
