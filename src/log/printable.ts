/**
 * Names from the file system, an archive or a bucket reach the terminal and
 * the log. Raw, a newline in a name forges a log line and an escape sequence
 * rewrites the screen. Two tools, both pure:
 *
 * - `printable(name)`: for a name interpolated into a message. Every control
 *   character (C0, DEL, C1), the Unicode line/paragraph separators and the
 *   bidirectional overrides become `\xNN` / `\u{NNNN}`; a Buffer's bytes that
 *   are not valid UTF-8 become `\xNN`; a name that is empty or starts or ends
 *   with white space is shown in single quotes, so 'data ' and 'data' differ.
 * - `escapeControls(text)`: for a whole message about to be written. The same
 *   escapes, except that newlines (our own multi-line messages) are kept.
 */

/** C0 controls, DEL, C1 controls, U+2028/U+2029, bidi embeddings/overrides/isolates, BOM. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** Escapes every control character in a message except `\n`. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE_EXCEPT_NEWLINE, escapeChar);
}

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes UTF-8, writing each byte of an invalid sequence as `\xNN`. */
function decodeBytes(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need === 0) {
      out += String.fromCharCode(b).replace(UNSAFE, escapeChar);
      i += 1;
      continue;
    }
    let valid = need > 0 && i + need < bytes.length;
    if (valid) {
      for (let k = 1; k <= need; k += 1) if ((bytes[i + k]! & 0xc0) !== 0x80) valid = false;
    }
    if (valid) {
      const char = UTF8.decode(bytes.subarray(i, i + need + 1));
      // Overlong forms and surrogates decode to U+FFFD: keep their bytes visible instead.
      if (!char.includes('\ufffd')) {
        out += char.replace(UNSAFE, escapeChar);
        i += need + 1;
        continue;
      }
    }
    out += `\\x${b.toString(16).padStart(2, '0')}`;
    i += 1;
  }
  return out;
}

/** A name as it may be shown in a message: see the module comment. */
export function printable(name: string | Uint8Array): string {
  const text = typeof name === 'string' ? name.replace(UNSAFE, escapeChar) : decodeBytes(name);
  return text === '' || /^\s|\s$/u.test(text) ? `'${text}'` : text;
}

/** A one-line message that may hold names: every control escaped, the newline too (no quotes added). */
export function oneLine(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}
