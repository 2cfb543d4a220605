/**
 * Where JSON text first goes wrong, and what is wrong there, in words that
 * never quote the text itself: a settings path may be a symlink to a file
 * that is not ours (a key, a token), and V8's own messages quote what they
 * could not parse ("Unexpected token 'S', "SECRET-xyz" is not valid JSON").
 * Only JSON punctuation is ever named. Pure.
 */

export interface JsonProblem {
  /** Character offset of the problem in the text. */
  offset: number;
  problem: string;
}

const MAX_DEPTH = 512;
const PUNCTUATION = new Set(['{', '}', '[', ']', ',', ':', '"', "'"]);

class Failure {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {}
}

/** The first problem in `text`, or undefined when it is valid JSON. */
export function locateJsonError(text: string): JsonProblem | undefined {
  let i = 0;
  function fail(problem: string, at = i): never {
    throw new Failure(at, problem);
  }
  const space = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  function unexpected(expected: string): never {
    if (i >= text.length) fail(`the file ends where ${expected} was expected (is a closing } or ] missing?)`);
    const c = text[i]!;
    if (c === '/') fail('comments are not allowed in JSON');
    if (c === "'") fail('strings take double quotes ("), not single quotes');
    const what = c === '"' ? 'a string' : PUNCTUATION.has(c) ? `"${c}"` : 'a character';
    const startsValue = /^["{[\-0-9tfn]$/.test(c);
    return fail(`${what} where ${expected} was expected${expected.startsWith('","') && startsValue ? ' (is a comma missing?)' : ''}`);
  }
  const string = (): void => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('a string is not closed (a " is missing)', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('a line break or control character inside a string (write it as \\n, \\t, ...)');
      if (c === 0x5c) {
        const next = text[i + 1];
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('a \\u escape needs four hex digits');
          i += 6;
        } else if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else fail('an invalid escape after a backslash (write \\\\ for a backslash, as in "C:\\\\dir")');
      } else i++;
    }
  };
  const number = (): void => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!match) return fail('an invalid number');
    i += match[0].length;
  };
  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) fail(`nested more than ${MAX_DEPTH} levels deep`);
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] === '}') fail('a comma before "}" (JSON allows no trailing comma)');
        if (text[i] !== '"') unexpected('a property name in double quotes');
        string();
        space();
        if (text[i] !== ':') unexpected('":" after the property name');
        i++;
        value(depth + 1);
        space();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        unexpected('"," or "}" after a value');
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] === ']') fail('a comma before "]" (JSON allows no trailing comma)');
        value(depth + 1);
        space();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        unexpected('"," or "]" after a value');
      }
    }
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    unexpected('a value');
  };
  try {
    value(0);
    space();
    if (i < text.length) fail('more text after the end of the JSON value');
    return undefined;
  } catch (error) {
    if (error instanceof Failure) return { offset: error.offset, problem: error.problem };
    throw error;
  }
}
