import { describe, expect, it } from 'vitest';
import { escapeControls, oneLine, printable } from '../../src/log/printable.js';

describe('printable', () => {
  it.each([
    ['plain.txt', 'plain.txt'],
    ['naïve 日本.txt', 'naïve 日本.txt'],
    ['a\nb', 'a\\x0ab'],
    ['\x1b[2Jclear', '\\x1b[2Jclear'],
    ['tab\there', 'tab\\x09here'],
    ['cr\rhere', 'cr\\x0dhere'],
    ['del\x7f', 'del\\x7f'],
    ['c1\u009b2J', 'c1\\x9b2J'],
    ['rtl\u202eexe.txt', 'rtl\\u{202e}exe.txt'],
    ['line\u2028sep', 'line\\u{2028}sep'],
    ['lone\ud800', 'lone\\u{d800}'],
    ['emoji 😀', 'emoji 😀'],
    ['data ', "'data '"],
    [' data', "' data'"],
    ['', "''"],
  ])('%j -> %s', (input, expected) => {
    expect(printable(input)).toBe(expected);
  });

  it('shows the bytes of invalid UTF-8 in a Buffer as \\xNN, keeps valid sequences', () => {
    expect(printable(Buffer.from([0x61, 0xff, 0x62, 0xc3, 0xa9, 0xc3, 0x0a, 0xe2, 0x82]))).toBe('a\\xffbé\\xc3\\x0a\\xe2\\x82');
    // Overlong encoding of '/' is not valid UTF-8.
    expect(printable(Buffer.from([0xc0, 0xaf]))).toBe('\\xc0\\xaf');
    expect(printable(Buffer.from('ok ', 'utf8'))).toBe("'ok '");
  });

  it('escapeControls keeps newlines, oneLine does not', () => {
    expect(escapeControls('one\ntwo\x1b[2J\r')).toBe('one\ntwo\\x1b[2J\\x0d');
    expect(oneLine('one\ntwo')).toBe('one\\x0atwo');
  });
});
