#!/usr/bin/env node
/**
 * Deterministic benchmark corpora.
 *
 *   node bench/corpus.mjs <small|big|tiny|huge|quick> <dir> [--seed N] [--force]
 *
 * Writes the corpus into <dir>/<kind>/ (the folder that gets archived, so every
 * archive's entries start with "<kind>/") and a marker <dir>/corpus.json with
 * the generator version, the parameters and what was made. A later call with
 * the same parameters reuses the corpus; different parameters (or --force)
 * regenerate it. The marker is written last, so an interrupted generation is
 * never reused.
 *
 * Everything comes from a seeded PRNG (mulberry32; no Math.random), and every
 * file has its own stream derived from (seed, corpus, index), so the same
 * parameters give byte-identical files, sizes and names on any machine.
 * Modification times are fixed too, so archive sizes are reproducible.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GENERATOR_VERSION = 1;
/** A change to this file's code changes the corpus, so it is part of the marker. */
const CODE_HASH = createHash('sha256').update(fs.readFileSync(fileURLToPath(import.meta.url))).digest('hex').slice(0, 16);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** 2024-01-01T00:00:00Z: all mtimes are this plus a seeded offset. */
const EPOCH = 1704067200;

// ---------------------------------------------------------------------------
// PRNG

/** mulberry32: 32-bit state, good enough statistically, very fast. */
export class Rng {
  constructor(seed) {
    this.s = seed >>> 0;
  }
  u32() {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** [0, 1) */
  float() {
    return this.u32() / 4294967296;
  }
  /** integer in [0, n) */
  int(n) {
    return Math.floor(this.float() * n);
  }
  /** integer in [lo, hi] */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  chance(p) {
    return this.float() < p;
  }
  pick(list) {
    return list[this.int(list.length)];
  }
  /** Zipf-like pick: early items are much more frequent (as words in real text). */
  zipf(list, skew = 2.2) {
    return list[Math.floor(Math.pow(this.float(), skew) * list.length)];
  }
  normal() {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  hex(n) {
    let s = '';
    while (s.length < n) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, n);
  }
  /** A buffer of `n` incompressible bytes. */
  bytes(n) {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.u32();
    return Buffer.from(words.buffer, 0, n);
  }
}

/** A seed for stream `index` of `label`, mixed from the corpus seed (FNV-1a + murmur finaliser). */
export function deriveSeed(seed, label, index = 0) {
  let h = 0x811c9dc5 ^ seed;
  const text = `${label}:${index}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------
// Text generators (ASCII only, so characters == bytes)

const WORDS = (
  'the of and to in is for on that with as by this be are from it at or an not value data file ' +
  'name type options config error result request response buffer stream path index item list map set key ' +
  'node module export import function return default object string number array promise async await ' +
  'callback event handler listener server client http url query params body header status code message ' +
  'user session token auth cache store state context props component render update create delete read ' +
  'write open close start stop init load save parse format encode decode compress source target output input ' +
  'length size count offset limit page total time date timeout retry delay interval queue worker task job ' +
  'process thread pool connection socket host port address route router middleware plugin loader resolver ' +
  'schema model field column table record row entry node tree child parent root level depth width height ' +
  'color style theme layout view window document element attribute selector class id label text content ' +
  'image icon font size scale transform filter sort merge split join concat slice splice push pop shift ' +
  'check validate verify test assert expect mock spy fixture setup teardown before after each describe ' +
  'build compile bundle minify watch serve deploy release version package dependency registry install ' +
  'log debug info warn trace level format transport logger console output file rotate archive backup ' +
  'should will can may must when then else only also into over under between while because without ' +
  'returns given current previous next first last new old local remote global internal external public'
).split(' ');

const KEYWORDS = ['const', 'let', 'var'];

/**
 * Real code reuses a few dozen names per file; so do we: while a file is being
 * generated, most identifiers come from its own small pool (see withPool).
 */
let POOL = null;
let PHRASES = null;

function withPool(r, fn) {
  const n = 15 + r.int(40);
  const pool = [];
  for (let i = 0; i < n; i++) pool.push(freshIdent(r, 1 + r.int(3)));
  POOL = pool;
  const phrases = [];
  for (let i = 0; i < 10 + r.int(20); i++) phrases.push(freshSentence(r, 3, 12));
  PHRASES = phrases;
  try {
    return fn();
  } finally {
    POOL = null;
    PHRASES = null;
  }
}

function ident(r, words) {
  if (POOL && r.chance(0.96)) return r.zipf(POOL, 2);
  return freshIdent(r, words ?? 1 + r.int(3));
}

function freshIdent(r, words) {
  let s = r.zipf(WORDS);
  for (let i = 1; i < words; i++) {
    const w = r.zipf(WORDS);
    s += w[0].toUpperCase() + w.slice(1);
  }
  return s;
}

function Ident(r) {
  const s = ident(r, 1 + r.int(2));
  return s[0].toUpperCase() + s.slice(1);
}

function sentence(r, min = 5, max = 16) {
  if (PHRASES && r.chance(0.8)) return r.zipf(PHRASES, 1.8);
  return freshSentence(r, min, max);
}

function freshSentence(r, min = 5, max = 16) {
  const n = r.range(min, max);
  let s = r.zipf(WORDS);
  s = s[0].toUpperCase() + s.slice(1);
  for (let i = 1; i < n; i++) s += ' ' + r.zipf(WORDS);
  return s + '.';
}

function strLit(r) {
  return r.chance(0.5) ? `'${ident(r, 1)}'` : `'${r.zipf(WORDS)} ${r.zipf(WORDS)}'`;
}

function expr(r) {
  switch (r.int(8)) {
    case 0:
      return strLit(r);
    case 1:
      return String(r.int(r.chance(0.85) ? 10 : 1000));
    case 2:
      return `${ident(r)}.${ident(r, 1)}`;
    case 3:
      return `${ident(r)}(${ident(r, 1)}, ${strLit(r)})`;
    case 4:
      return `await this.${ident(r)}(${ident(r, 1)})`;
    case 5:
      return `${ident(r, 1)} === ${r.pick(['undefined', 'null', '0', "''", 'true', 'false'])}`;
    case 6:
      return `{ ${ident(r, 1)}: ${ident(r, 1)}, ${ident(r, 1)} }`;
    default:
      return ident(r);
  }
}

function jsStatement(r, ind) {
  switch (r.int(12)) {
    case 0:
      return `${ind}// ${sentence(r, 3, 12)}\n`;
    case 1:
      return `${ind}if (${expr(r)}) return ${expr(r)};\n`;
    case 2:
      return `${ind}throw new ${r.pick(['TypeError', 'Error', 'RangeError'])}(${strLit(r)} + ${ident(r, 1)});\n`;
    case 3:
      return `${ind}${ident(r)}.${ident(r, 1)} = ${expr(r)};\n`;
    case 4:
      return `${ind}return ${expr(r)};\n`;
    default:
      return `${ind}${r.pick(KEYWORDS)} ${ident(r)} = ${expr(r)};\n`;
  }
}

function jsBlock(r, depth = 0) {
  const ind = '  '.repeat(depth);
  const inner = '  '.repeat(depth + 1);
  let s = '';
  const kind = r.int(6);
  if (kind === 0 && depth === 0) {
    s += `/**\n * ${sentence(r)}\n * @param {${r.pick(['string', 'number', 'Object', 'Buffer'])}} ${ident(r, 1)} ${sentence(r, 3, 8)}\n * @returns {${r.pick(['Promise<void>', 'boolean', 'string'])}}\n */\n`;
  }
  if (kind <= 2) s += `${ind}${depth === 0 && r.chance(0.3) ? 'export ' : ''}${r.chance(0.3) ? 'async ' : ''}function ${ident(r)}(${ident(r, 1)}, ${ident(r, 1)} = {}) {\n`;
  else if (kind === 3) s += `${ind}for (let i = 0; i < ${ident(r, 1)}.length; i++) {\n`;
  else if (kind === 4) s += `${ind}if (${expr(r)}) {\n`;
  else s += `${ind}${ident(r)}.${r.pick(['on', 'once', 'then', 'forEach', 'map'])}(${r.chance(0.5) ? strLit(r) + ', ' : ''}(${ident(r, 1)}) => {\n`;
  const n = r.range(1, 7);
  for (let i = 0; i < n; i++) {
    s += depth < 2 && r.chance(0.15) ? jsBlock(r, depth + 1) : jsStatement(r, inner);
  }
  s += kind === 5 ? `${ind}});\n` : `${ind}}\n`;
  return s + (depth === 0 ? '\n' : '');
}

function jsHeader(r) {
  let s = r.chance(0.3) ? `'use strict';\n\n` : '';
  const n = r.range(1, 6);
  for (let i = 0; i < n; i++) {
    s += r.chance(0.5)
      ? `const ${ident(r)} = require('${r.chance(0.4) ? './' : ''}${r.zipf(WORDS)}-${r.zipf(WORDS)}');\n`
      : `import { ${ident(r)}, ${ident(r)} } from '${r.chance(0.5) ? './' : ''}${r.zipf(WORDS)}${r.chance(0.5) ? '.js' : ''}';\n`;
  }
  return s + '\n';
}

function genJs(r, size) {
  const parts = [jsHeader(r)];
  let len = parts[0].length;
  while (len < size) {
    const b = jsBlock(r);
    parts.push(b);
    len += b.length;
  }
  return parts.join('');
}

function genDts(r, size) {
  const parts = [];
  let len = 0;
  while (len < size) {
    let s;
    switch (r.int(4)) {
      case 0:
        s = `export declare function ${ident(r)}(${ident(r, 1)}: ${r.pick(['string', 'number', 'Buffer', 'Options'])}, ${ident(r, 1)}?: ${Ident(r)}): ${r.pick(['Promise<void>', 'boolean', 'string', Ident(r)])};\n`;
        break;
      case 1: {
        s = `export interface ${Ident(r)} {\n`;
        const n = r.range(1, 8);
        for (let i = 0; i < n; i++) s += `  /** ${sentence(r, 3, 10)} */\n  ${ident(r)}${r.chance(0.4) ? '?' : ''}: ${r.pick(['string', 'number', 'boolean', 'string[]', Ident(r)])};\n`;
        s += '}\n\n';
        break;
      }
      case 2:
        s = `export type ${Ident(r)} = ${strLit(r)} | ${strLit(r)} | ${strLit(r)};\n`;
        break;
      default:
        s = `export declare const ${ident(r)}: ${Ident(r)};\n`;
    }
    parts.push(s);
    len += s.length;
  }
  return parts.join('');
}

function jsonValue(r, depth) {
  const k = r.int(depth > 2 ? 5 : 8);
  switch (k) {
    case 0:
      return r.int(r.chance(0.7) ? 100 : 100000);
    case 1:
      return r.chance(0.5);
    case 2:
      return `${r.int(5)}.${r.int(30)}.${r.int(20)}`;
    case 3:
      return sentence(r, 2, 9);
    case 4:
      return ident(r);
    case 5:
    case 6: {
      const o = {};
      const n = r.range(1, 6);
      for (let i = 0; i < n; i++) o[ident(r)] = jsonValue(r, depth + 1);
      return o;
    }
    default: {
      const a = [];
      const n = r.range(1, 5);
      for (let i = 0; i < n; i++) a.push(jsonValue(r, depth + 1));
      return a;
    }
  }
}

function genJson(r, size) {
  const parts = [];
  let len = 0;
  while (len < size) {
    const o = {
      name: `${r.zipf(WORDS)}-${r.zipf(WORDS)}`,
      version: `${r.int(5)}.${r.int(30)}.${r.int(20)}`,
      description: sentence(r),
      dependencies: {},
    };
    const n = r.range(1, 8);
    for (let i = 0; i < n; i++) o.dependencies[`${r.zipf(WORDS)}-${r.zipf(WORDS)}`] = `^${r.int(5)}.${r.int(30)}.${r.int(20)}`;
    const m = r.range(1, 6);
    for (let i = 0; i < m; i++) o[ident(r)] = jsonValue(r, 1);
    const s = JSON.stringify(o, null, 2);
    parts.push(s);
    len += s.length + 2;
  }
  return '[\n' + parts.join(',\n') + '\n]\n';
}

function genMarkdown(r, size) {
  const parts = [];
  let len = 0;
  while (len < size) {
    let s;
    switch (r.int(6)) {
      case 0:
        s = `${'#'.repeat(r.range(1, 3))} ${sentence(r, 2, 6).slice(0, -1)}\n\n`;
        break;
      case 1: {
        s = '';
        const n = r.range(2, 6);
        for (let i = 0; i < n; i++) s += `- ${sentence(r, 3, 12)}\n`;
        s += '\n';
        break;
      }
      case 2:
        s = '```js\n' + jsStatement(r, '') + jsStatement(r, '') + jsStatement(r, '') + '```\n\n';
        break;
      default: {
        s = '';
        const n = r.range(2, 7);
        for (let i = 0; i < n; i++) s += sentence(r) + (i % 2 ? '\n' : ' ');
        s += '\n\n';
      }
    }
    parts.push(s);
    len += s.length;
  }
  return parts.join('');
}

const SHORT = 'abcdefghijklmnopqrstuvwxyz'.split('').concat(['_', '$', 'e', 't', 'n', 'r', 'i', 'o']);

function genMinified(r, size) {
  // One very long line (as bundlers emit), short identifiers, real property names.
  const parts = ['!function(e,t){"use strict";'];
  let len = parts[0].length;
  while (len < size) {
    const a = r.pick(SHORT);
    const b = r.pick(SHORT) + (r.chance(0.3) ? r.pick(SHORT) : '');
    let s;
    switch (r.int(6)) {
      case 0:
        s = `var ${a}=${b}.${ident(r)}||{};`;
        break;
      case 1:
        s = `function ${b}(${a},${r.pick(SHORT)}){return ${a}.${ident(r)}(${r.pick(SHORT)})}`;
        break;
      case 2:
        s = `${a}.prototype.${ident(r)}=function(){return this.${ident(r, 1)}?${r.int(1000)}:"${r.zipf(WORDS)}"};`;
        break;
      case 3:
        s = `if(!${a}||"${r.zipf(WORDS)}"!==typeof ${a})throw new TypeError("${sentence(r, 3, 8)}");`;
        break;
      case 4:
        s = `${a}[${r.int(500)}]=function(${b},${r.pick(SHORT)},${r.pick(SHORT)}){${r.pick(SHORT)}(${r.int(900)})},`;
        break;
      default:
        s = `${a}=${b}(${r.int(10000)},"${ident(r)}"),`;
    }
    parts.push(s);
    len += s.length;
  }
  return parts.join('') + '}(this);\n//# sourceMappingURL=index.min.js.map\n';
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function genSourceMap(r, size) {
  // Source maps: a little JSON around a long, poorly compressible VLQ string.
  let head = `{"version":3,"file":"${r.zipf(WORDS)}.min.js","sources":["../src/${r.zipf(WORDS)}.js"],"names":[`;
  for (let i = 0; i < 20; i++) head += `"${ident(r)}",`;
  head += '"x"],"mappings":"';
  const chars = [];
  let len = head.length;
  while (len < size) {
    const segs = r.range(1, 6);
    let s = '';
    for (let i = 0; i < segs; i++) s += B64[r.int(64)] + (r.chance(0.8) ? 'AAA' : B64[r.int(64)] + B64[r.int(16)] + 'A');
    s += r.chance(0.9) ? ',' : ';';
    chars.push(s);
    len += s.length;
  }
  return head + chars.join('') + '"}\n';
}

const MIT =
  'MIT License\n\nCopyright (c) YEAR AUTHOR\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n' +
  'of this software and associated documentation files (the "Software"), to deal\nin the Software without restriction, ' +
  'including without limitation the rights\nto use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n' +
  'copies of the Software, and to permit persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\n' +
  'The above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n\n' +
  'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\nIMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n' +
  'FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.\n';

function genLicense(r, size) {
  let s = MIT.replace('YEAR', String(2010 + r.int(15))).replace('AUTHOR', `${Ident(r)} ${Ident(r)}`);
  while (s.length < size) s += '\n' + genMarkdown(r, Math.min(4096, size - s.length));
  return s;
}

/** File kinds of the SMALL-like tree: [name, weight, extensions, generator]; 'bin' is random bytes. */
const FILE_KINDS = [
  ['js', 50, ['.js', '.js', '.js', '.cjs', '.mjs'], genJs],
  ['json', 13, ['.json'], genJson],
  ['md', 9, ['.md', '.md', '.txt'], genMarkdown],
  ['dts', 8, ['.d.ts', '.ts'], genDts],
  ['min', 5, ['.min.js'], genMinified],
  ['map', 2, ['.js.map'], genSourceMap],
  ['license', 4, ['', '.md'], genLicense],
  ['bin', 3, ['.png', '.woff2', '.node', '.gz', '.bin'], null],
];
const KIND_TOTAL = FILE_KINDS.reduce((a, k) => a + k[1], 0);

function pickKind(r) {
  let x = r.float() * KIND_TOTAL;
  for (const k of FILE_KINDS) {
    x -= k[1];
    if (x < 0) return k;
  }
  return FILE_KINDS[0];
}

function fileContent(kind, r, size) {
  if (size === 0) return Buffer.alloc(0);
  if (!kind[3]) return r.bytes(size);
  const text = withPool(r, () => kind[3](r, size));
  return Buffer.from(text.length > size ? text.slice(0, size) : text, 'latin1');
}

// ---------------------------------------------------------------------------
// Corpus kinds

export const KINDS = {
  small: {
    describe: (p) =>
      `SMALL-like source tree: ~${p.files} files in ${p.dirs} nested folders (depth 1-${p.maxDepth}), ` +
      `log-normal sizes (median ${p.medianBytes} B) plus a few 0.3-6 MB files up to ~${Math.round(p.targetBytes / 1e6)} MB; ` +
      `generated JS/JSON/Markdown/.d.ts/minified/source maps, ~3% random-byte binaries, ~1% empty files`,
    params: { files: 28000, dirs: 3200, maxDepth: 8, targetBytes: 180e6, medianBytes: 2400, sigma: 1.25, emptyShare: 0.01 },
    generate: generateTree,
  },
  quick: {
    describe: (p) => `quick smoke-test tree (same generator as small): ~${p.files} files in ${p.dirs} folders, ~${Math.round(p.targetBytes / 1e6)} MB`,
    params: { files: 2000, dirs: 250, maxDepth: 8, targetBytes: 30e6, medianBytes: 2400, sigma: 1.25, emptyShare: 0.01 },
    generate: generateTree,
  },
  big: {
    describe: (p) =>
      `BIG-like: four files, log.txt ${p.logMiB} MiB (timestamped log lines), random.bin ${p.randomMiB} MiB (incompressible), ` +
      `mixed.dat ${p.mixedMiB} MiB (alternating 64 KiB-2 MiB text and random blocks), sparse.img ${p.sparseMiB} MiB apparent (ftruncate, mostly holes)`,
    params: { logMiB: 400, randomMiB: 200, mixedMiB: 300, sparseMiB: 100 },
    generate: generateBig,
  },
  tiny: {
    describe: (p) => `${p.files} tiny text files (${p.minBytes}-${p.maxBytes} B) in ${p.dirs} folders`,
    params: { files: 200000, dirs: 2000, minBytes: 10, maxBytes: 200 },
    generate: generateTiny,
  },
  huge: {
    describe: (p) => `one ${p.sizeGiB} GiB sparse file (ftruncate) with ${p.dataOffsets.length} x ${p.chunkKiB} KiB of text written at a few offsets`,
    params: { sizeGiB: 5, chunkKiB: 1024, dataOffsets: [0, 1.25, 2.5, 4.1, 4.999] },
    generate: generateHuge,
  },
};

function setTime(p, r) {
  const t = EPOCH + r.int(300 * 86400);
  fs.utimesSync(p, t, t);
}

function generateTree(root, p, seed, stats) {
  const r = new Rng(deriveSeed(seed, 'tree'));
  // Folders: a random recursive tree, each new folder under a random existing one of depth < maxDepth.
  const dirs = [{ rel: '', depth: 0, names: new Set() }];
  const uniqueName = (parent, base) => {
    let name = base;
    const dot = base.indexOf('.', 1);
    const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
    for (let i = 2; parent.names.has(name); i++) name = `${stem}-${i}${ext}`;
    parent.names.add(name);
    return name;
  };
  const topLevel = Math.max(5, Math.round(p.dirs / 100));
  for (let i = 0; i < p.dirs; i++) {
    let parent;
    if (i < topLevel) parent = dirs[0];
    else {
      do parent = dirs[1 + r.int(dirs.length - 1)];
      while (parent.depth >= p.maxDepth);
    }
    const base = r.chance(0.5) ? r.zipf(WORDS) : `${r.zipf(WORDS)}-${r.zipf(WORDS)}`;
    const name = uniqueName(parent, base);
    const rel = parent.rel ? `${parent.rel}/${name}` : name;
    dirs.push({ rel, depth: parent.depth + 1, names: new Set() });
    fs.mkdirSync(path.join(root, rel));
  }
  stats.dirs = dirs.length; // the root folder counts as an archive entry too

  // Sizes: log-normal bulk (most 200 B-20 KB), ~1% empty, then 0.3-6 MB files until targetBytes.
  const sizes = [];
  let total = 0;
  const bulk = p.files - Math.max(2, Math.round(p.files * 0.0007));
  for (let i = 0; i < bulk; i++) {
    let size = 0;
    if (!r.chance(p.emptyShare)) size = Math.min(1.5 * MiB, Math.max(1, Math.round(p.medianBytes * Math.exp(p.sigma * r.normal()))));
    sizes.push(size);
    total += size;
  }
  while (total < p.targetBytes) {
    const size = Math.min(Math.max(p.targetBytes - total, 50e3), Math.round(300e3 * Math.pow(20, r.float())));
    sizes.push(size);
    total += size;
  }

  for (let i = 0; i < sizes.length; i++) {
    const fr = new Rng(deriveSeed(seed, 'file', i));
    const kind = sizes[i] > 250e3 && fr.chance(0.85) ? FILE_KINDS[fr.pick([0, 0, 0, 1, 4, 4, 5])] : pickKind(fr);
    // Files go anywhere, slightly favouring folders that already have entries (real trees are lumpy).
    const dir = fr.chance(0.3) ? dirs[fr.int(Math.min(dirs.length, 1 + (dirs.length >> 3)))] : dirs[fr.int(dirs.length)];
    const base = kind[0] === 'license' ? fr.pick(['LICENSE', 'README', 'CHANGELOG', 'NOTICE']) : fr.chance(0.15) ? 'index' : ident(fr, 1 + fr.int(2));
    const name = uniqueName(dir, base + fr.pick(kind[2]));
    const file = path.join(root, dir.rel, name);
    const data = fileContent(kind, fr, sizes[i]);
    fs.writeFileSync(file, data, { mode: fr.chance(0.03) ? 0o755 : 0o644 });
    setTime(file, fr);
    stats.files++;
    stats.bytes += data.length;
    if (kind[0] === 'bin') stats.binaryFiles++;
    if (data.length === 0) stats.emptyFiles++;
  }
  // Folder mtimes last (writing files changes them), deepest first.
  for (const d of dirs.slice().sort((a, b) => b.depth - a.depth)) setTime(path.join(root, d.rel), r);
}

const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'INFO ', 'DEBUG', 'DEBUG', 'WARN ', 'ERROR'];
const COMPONENTS = ['http', 'db.pool', 'auth', 'scheduler', 'cache', 'worker-1', 'worker-2', 'api.v2', 'mailer', 'storage', 'gc', 'metrics'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];

function logLine(r, ms) {
  const ts = new Date(ms).toISOString();
  const lvl = r.pick(LEVELS);
  const comp = r.pick(COMPONENTS);
  let msg;
  switch (r.int(10)) {
    case 0:
    case 1:
    case 2:
      msg = `${r.pick(METHODS)} /api/v${r.range(1, 3)}/${r.zipf(WORDS)}/${r.int(100000)}${r.chance(0.3) ? `?page=${r.int(50)}` : ''} ${r.pick([200, 200, 200, 201, 204, 304, 404, 500])} ${(r.float() * 300).toFixed(1)}ms req=${r.hex(12)} ip=10.${r.int(256)}.${r.int(256)}.${r.int(256)}`;
      break;
    case 3:
      msg = `query ${r.pick(['SELECT', 'UPDATE', 'INSERT INTO'])} ${r.zipf(WORDS)}_${r.zipf(WORDS)} took ${r.int(2000)}ms rows=${r.int(10000)}`;
      break;
    case 4:
      msg = `user ${ident(r, 2)}${r.int(1000)} ${r.pick(['logged in', 'logged out', 'refreshed token', 'failed password check'])} session=${r.hex(16)}`;
      break;
    case 5:
      msg = `job ${r.zipf(WORDS)}-${r.zipf(WORDS)}#${r.int(1e6)} ${r.pick(['queued', 'started', 'finished', 'retrying', 'failed'])} attempt=${r.range(1, 5)} elapsed=${(r.float() * 60).toFixed(2)}s`;
      break;
    case 6:
      msg = `cache ${r.pick(['hit', 'hit', 'miss', 'evict'])} key=${r.zipf(WORDS)}:${r.int(100000)} size=${r.int(65536)}`;
      break;
    case 7:
      msg = `${sentence(r, 4, 14)} (${ident(r)}=${r.int(1000)})`;
      break;
    case 8:
      msg = `heap used=${r.int(4096)}MB rss=${r.int(8192)}MB gc=${r.pick(['minor', 'major'])} pause=${r.int(200)}ms`;
      break;
    default:
      msg = `connection ${r.pick(['opened', 'closed', 'reset by peer', 'timed out'])} peer=192.168.${r.int(256)}.${r.int(256)}:${r.range(1024, 65535)} id=${r.hex(8)}`;
  }
  return `${ts} ${lvl} [${comp}] ${msg}\n`;
}

/** Writes `bytes` of log text to fd through `write`, exactly. */
function writeLog(fd, r, bytes, clock) {
  let written = 0;
  const parts = [];
  let len = 0;
  while (written < bytes) {
    clock.ms += r.int(40);
    const line = logLine(r, clock.ms);
    parts.push(line);
    len += line.length;
    if (len >= 4 * MiB || written + len >= bytes) {
      let buf = Buffer.from(parts.join(''), 'latin1');
      if (written + buf.length > bytes) buf = buf.subarray(0, bytes - written);
      fs.writeSync(fd, buf);
      written += buf.length;
      parts.length = 0;
      len = 0;
    }
  }
}

function writeRandom(fd, r, bytes) {
  let written = 0;
  while (written < bytes) {
    const n = Math.min(4 * MiB, bytes - written);
    fs.writeSync(fd, r.bytes(n));
    written += n;
  }
}

function generateBig(root, p, seed, stats) {
  const clock = { ms: Date.UTC(2024, 0, 1) };
  const files = [];
  const withFile = (name, fn) => {
    const file = path.join(root, name);
    const fd = fs.openSync(file, 'w', 0o644);
    try {
      fn(fd);
    } finally {
      fs.closeSync(fd);
    }
    files.push(file);
  };
  withFile('log.txt', (fd) => writeLog(fd, new Rng(deriveSeed(seed, 'log')), p.logMiB * MiB, clock));
  withFile('random.bin', (fd) => writeRandom(fd, new Rng(deriveSeed(seed, 'random')), p.randomMiB * MiB));
  withFile('mixed.dat', (fd) => {
    const r = new Rng(deriveSeed(seed, 'mixed'));
    const total = p.mixedMiB * MiB;
    let done = 0;
    for (let text = true; done < total; text = !text) {
      const n = Math.min(total - done, 64 * 1024 * r.range(1, 32));
      if (text) writeLog(fd, r, n, clock);
      else writeRandom(fd, r, n);
      done += n;
    }
  });
  withFile('sparse.img', (fd) => {
    const r = new Rng(deriveSeed(seed, 'sparse'));
    const size = p.sparseMiB * MiB;
    fs.ftruncateSync(fd, size);
    for (let i = 0; i < 8; i++) fs.writeSync(fd, r.bytes(4096), 0, 4096, Math.floor((i * size) / 8) + 4096 * r.int(64));
  });
  for (const f of files) {
    const st = fs.statSync(f);
    stats.files++;
    stats.bytes += st.size;
    stats.allocatedBytes += st.blocks * 512;
    fs.utimesSync(f, EPOCH, EPOCH);
  }
  stats.dirs = 1;
  fs.utimesSync(root, EPOCH, EPOCH);
}

function generateTiny(root, p, seed, stats) {
  const r = new Rng(deriveSeed(seed, 'tiny'));
  const top = Math.round(Math.sqrt(p.dirs / 2));
  const dirs = [];
  for (let i = 0; dirs.length < p.dirs; i++) {
    const a = `${r.zipf(WORDS)}-${i}`;
    fs.mkdirSync(path.join(root, a));
    dirs.push(a);
    const subs = Math.min(p.dirs - dirs.length, Math.round(p.dirs / top) - 1);
    for (let j = 0; j < subs; j++) {
      const b = `${a}/${r.zipf(WORDS)}-${j}`;
      fs.mkdirSync(path.join(root, b));
      dirs.push(b);
    }
  }
  for (let i = 0; i < p.files; i++) {
    const size = r.range(p.minBytes, p.maxBytes);
    let text = '';
    while (text.length < size) text += (text ? ' ' : '') + r.zipf(WORDS);
    const file = path.join(root, dirs[i % dirs.length], `${ident(r, 1)}-${i}.txt`);
    fs.writeFileSync(file, text.slice(0, size) + '', { mode: 0o644 });
    fs.utimesSync(file, EPOCH, EPOCH);
    stats.files++;
    stats.bytes += size;
  }
  stats.dirs = dirs.length + 1;
}

function generateHuge(root, p, seed, stats) {
  const r = new Rng(deriveSeed(seed, 'huge'));
  const file = path.join(root, 'disk.img');
  const size = p.sizeGiB * GiB;
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    fs.ftruncateSync(fd, size);
    for (const at of p.dataOffsets) {
      const chunk = Buffer.from(genMarkdown(r, p.chunkKiB * 1024).slice(0, p.chunkKiB * 1024), 'latin1');
      const offset = Math.min(size - chunk.length, Math.floor(at * GiB));
      fs.writeSync(fd, chunk, 0, chunk.length, offset);
    }
  } finally {
    fs.closeSync(fd);
  }
  const st = fs.statSync(file);
  fs.utimesSync(file, EPOCH, EPOCH);
  stats.files = 1;
  stats.dirs = 1;
  stats.bytes = st.size;
  stats.allocatedBytes = st.blocks * 512;
}

// ---------------------------------------------------------------------------

/**
 * Makes sure <dir>/<kind>/ holds the corpus `kind` with these parameters.
 * Returns { root, marker, reused, seconds }.
 */
export function ensureCorpus(kind, dir, { seed = 20240101, force = false, log = console.log } = {}) {
  const spec = KINDS[kind];
  if (!spec) throw new Error(`unknown corpus "${kind}" (known: ${Object.keys(KINDS).join(', ')})`);
  const root = path.join(path.resolve(dir), kind);
  const markerFile = path.join(path.resolve(dir), 'corpus.json');
  const want = { generator: 'backup-bench-corpus', version: GENERATOR_VERSION, code: CODE_HASH, kind, seed, params: spec.params };
  if (!force && fs.existsSync(markerFile) && fs.existsSync(root)) {
    try {
      const marker = JSON.parse(fs.readFileSync(markerFile, 'utf8'));
      const { generator, version, code } = marker;
      const same = JSON.stringify({ generator, version, code, kind: marker.kind, seed: marker.seed, params: marker.params }) === JSON.stringify(want);
      if (same) return { root, marker, reused: true, seconds: 0 };
      log(`corpus ${kind}: ${markerFile} has other parameters; regenerating`);
    } catch {
      log(`corpus ${kind}: unreadable marker ${markerFile}; regenerating`);
    }
  }
  const started = process.hrtime.bigint();
  fs.rmSync(markerFile, { force: true });
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const stats = { files: 0, dirs: 0, bytes: 0, allocatedBytes: 0, binaryFiles: 0, emptyFiles: 0 };
  log(`corpus ${kind}: generating into ${root} ...`);
  spec.generate(root, spec.params, seed, stats);
  if (!stats.allocatedBytes) stats.allocatedBytes = stats.bytes;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const marker = {
    ...want,
    description: spec.describe(spec.params),
    stats: { ...stats, entries: stats.files + stats.dirs },
    generatedAt: new Date().toISOString(),
    generationSeconds: Math.round(seconds * 10) / 10,
  };
  fs.writeFileSync(markerFile, JSON.stringify(marker, null, 2) + '\n');
  return { root, marker, reused: false, seconds };
}

export function describeCorpus(marker) {
  const s = marker.stats;
  const sparse = s.allocatedBytes < s.bytes * 0.9 ? `, ${(s.allocatedBytes / 1e6).toFixed(1)} MB allocated on disk` : '';
  return `${s.files.toLocaleString('en-US')} files, ${s.dirs.toLocaleString('en-US')} folders, ${(s.bytes / 1e6).toFixed(1)} MB${sparse}` +
    (s.binaryFiles ? `, ${s.binaryFiles} random-byte files` : '') + (s.emptyFiles ? `, ${s.emptyFiles} empty files` : '');
}

function cli(argv) {
  const args = [];
  let seed;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seed') seed = Number(argv[++i]);
    else if (argv[i] === '--force') force = true;
    else if (argv[i] === '-h' || argv[i] === '--help') args.length = 99;
    else args.push(argv[i]);
  }
  if (args.length !== 2 || !KINDS[args[0]] || (seed !== undefined && !Number.isInteger(seed))) {
    process.stderr.write(`usage: node bench/corpus.mjs <${Object.keys(KINDS).join('|')}> <dir> [--seed N] [--force]\n`);
    return 2;
  }
  const { root, marker, reused, seconds } = ensureCorpus(args[0], args[1], { seed, force });
  console.log(
    `corpus ${args[0]}: ${reused ? 'reused' : 'made'} ${root}: ${describeCorpus(marker)}` + (reused ? ` (generated earlier in ${marker.generationSeconds} s)` : ` in ${seconds.toFixed(1)} s`),
  );
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = cli(process.argv.slice(2));
}
