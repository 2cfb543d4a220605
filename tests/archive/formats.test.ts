import { describe, expect, it } from 'vitest';
import { resolveFormat } from '../../src/archive/formats.js';

describe('resolveFormat (the ZIP fallback)', () => {
  it.each([
    // [requested, format written, warns]
    [undefined, 'tar.gz', false],
    ['', 'tar.gz', false],
    ['zip', 'zip', false],
    ['tar.gz', 'tar.gz', false],
    ['tar.bz2', 'tar.bz2', false],
    ['TAR.GZ', 'tar.gz', false],
    ['.zip', 'zip', false],
    ['tgz', 'tar.gz', false],
    ['tbz2', 'tar.bz2', false],
    ['7z', 'zip', true],
    ['rar', 'zip', true],
    ['tar', 'zip', true],
    ['tar.xz', 'zip', true],
    ['gz', 'zip', true],
  ])('%j -> %s', (requested, format, warns) => {
    const r = resolveFormat(requested);
    expect(r.format).toBe(format);
    expect(r.warning !== undefined).toBe(warns);
    if (requested) expect(r.requested).toBe(requested);
  });

  it('names the requested format and the supported ones in the warning', () => {
    expect(resolveFormat('7z').warning).toMatch(/"7z".*zip.*tar\.gz.*tar\.bz2/);
  });
});
