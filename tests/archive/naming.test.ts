import { describe, expect, it } from 'vitest';
import { candidateFileName, formatDate, formatTime, renderName, sanitizeName } from '../../src/archive/naming.js';

// Local time components: the same wall-clock result in any TZ.
const NOW = new Date(2026, 10, 26, 2, 3, 4);
const ctx = { sources: ['/srv/data'], now: NOW, host: 'host1' };

describe('renderName', () => {
  it.each([
    // [template, expected name]
    [undefined, 'data-20261126-020304'],
    ['', 'data-20261126-020304'],
    ['   ', 'data-20261126-020304'],
    ['{source}-{date}-{time}', 'data-20261126-020304'],
    ['{host}-{source}', 'host1-data'],
    ['nightly', 'nightly'],
    ['nightly-{date}', 'nightly-20261126'],
    ['nightly.tar.gz', 'nightly'],
    ['nightly.ZIP', 'nightly'],
    ['../../x', 'x'],
    ['../../etc/passwd', 'etc_passwd'],
    ['a/b\\c', 'a_b_c'],
    ['with\u0000nul\u0007bell\nnewline', 'withnulbellnewline'],
    ['.hidden', 'hidden'],
    ['...', 'data-20261126-020304'],
    ['///', 'data-20261126-020304'],
    ['name:with*odd?chars<>|"', 'name_with_odd_chars____'],
    ['\u202egpj.exe', 'gpj.exe'],
    ['  spaced   name  ', 'spaced name'],
    ['ünïcödé {date}', 'ünïcödé 20261126'],
  ])('%j -> %j', (template, expected) => {
    expect(renderName(template, ctx).name).toBe(expected);
  });

  it('warns when a name was changed or fell back, and not otherwise', () => {
    expect(renderName('nightly', ctx).warnings).toEqual([]);
    expect(renderName(undefined, ctx).warnings).toEqual([]);
    expect(renderName('../../x', ctx).warnings.join()).toMatch(/made safe as "x"/);
    expect(renderName('...', ctx).warnings.join()).toMatch(/empty or invalid/);
  });

  it('keeps unknown tokens as text, with one warning', () => {
    const r = renderName('{source}-{nope}', ctx);
    expect(r.name).toBe('data-{nope}');
    expect(r.warnings).toEqual([expect.stringMatching(/Unknown token \{nope\}/)]);
  });

  it('uses the base name of the first source, and "root" for /', () => {
    expect(renderName(undefined, { ...ctx, sources: ['/a/b/photos', '/c/docs'] }).name).toBe('photos-20261126-020304');
    expect(renderName(undefined, { ...ctx, sources: ['/'] }).name).toBe('root-20261126-020304');
  });

  it('bounds the length so sidecar names still fit a 255-byte file name', () => {
    const name = renderName('é'.repeat(300), ctx).name;
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(200);
    expect(Buffer.byteLength(`${name}-999.tar.bz2.manifest.json`)).toBeLessThanOrEqual(255);
  });
});

describe('date and time tokens (local time)', () => {
  it.each([
    [new Date(2026, 0, 1, 0, 0, 0), '20260101', '000000'],
    [new Date(2026, 11, 31, 23, 59, 59), '20261231', '235959'],
    [new Date(1999, 8, 9, 9, 8, 7), '19990909', '090807'],
  ])('%s', (date, day, time) => {
    expect(formatDate(date)).toBe(day);
    expect(formatTime(date)).toBe(time);
  });
});

describe('sanitizeName', () => {
  it('never returns a path separator, a control character or a leading dot', () => {
    const hostile = ['../../x', '/etc/passwd', 'a\\..\\b', '\u0001.\u001f', '.\u0000./x', '..\\..', '\u202e.exe'];
    for (const raw of hostile) {
      const out = sanitizeName(raw);
      expect(out).not.toMatch(/[/\\\u0000-\u001f]/);
      expect(out.startsWith('.')).toBe(false);
    }
  });
});

describe('candidateFileName', () => {
  it.each([
    [0, 'n.tar.gz'],
    [1, 'n-1.tar.gz'],
    [2, 'n-2.tar.gz'],
  ])('attempt %i -> %s', (attempt, expected) => {
    expect(candidateFileName('n', 'tar.gz', attempt)).toBe(expected);
  });
});
