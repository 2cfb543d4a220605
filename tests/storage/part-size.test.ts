import { describe, expect, it } from 'vitest';
import { MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE, partSizeFor } from '../../src/storage/part-size.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TB = 1000 ** 4;

describe('partSizeFor', () => {
  it.each([
    [undefined, MIN_PART_SIZE],
    [0, MIN_PART_SIZE],
    [1, MIN_PART_SIZE],
    [100 * MiB, MIN_PART_SIZE],
    [70 * GiB, 8 * MiB],
    [100 * GiB, 12 * MiB],
    [1 * TB, 106 * MiB],
    [5 * TB, 530 * MiB],
    [1000 * TB, MAX_PART_SIZE],
  ])('%s bytes -> %s', (estimate, expected) => {
    expect(partSizeFor(estimate)).toBe(expected);
  });

  it('always leaves room for an archive 10% larger than the estimate within 10,000 parts (up to 5 TB)', () => {
    for (const estimate of [1, 50 * MiB, 79 * GiB, 81 * GiB, 500 * GiB, 2 * TB, 5 * TB]) {
      const size = partSizeFor(estimate);
      expect(size % MiB).toBe(0);
      expect(Math.ceil((estimate * 1.1) / size)).toBeLessThanOrEqual(MAX_PARTS);
    }
  });
});
