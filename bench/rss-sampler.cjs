/**
 * Preloaded by bench/rss-probe.mjs (`node --require bench/rss-sampler.cjs`):
 * samples process.memoryUsage() every 10 ms on the main thread and, at exit,
 * writes the peak of each figure and the whole sample taken at the peak RSS
 * to $RSS_SAMPLER_OUT. A probe only: nothing of the CLI depends on it.
 */
'use strict';
const fs = require('node:fs');
const v8 = require('node:v8');
const { isMainThread } = require('node:worker_threads');

if (isMainThread && process.env.RSS_SAMPLER_OUT) {
  const out = process.env.RSS_SAMPLER_OUT;
  const max = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let atPeak = { ...max };
  const series = [];
  let smaps;
  /** Resident kB of /proc/self/smaps by kind: file-backed (by name), [heap], [stack], anonymous by size class. */
  const groupSmaps = () => {
    const groups = {};
    let name = '';
    let size = 0;
    for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
      if (head) {
        size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
        const file = head[3];
        name = file ? (file.startsWith('/') ? (file.includes('node') && !file.includes('.node') ? 'node binary' : file.endsWith('.node') ? 'native addons' : 'other files') : file) : size >= 60 * 1024 ? 'anon >= 60 MB (malloc arenas, V8 reservations)' : size >= 8 * 1024 ? 'anon 8-60 MB' : size >= 1024 ? 'anon 1-8 MB' : 'anon < 1 MB';
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) groups[name] = (groups[name] ?? 0) + Number(rss[1]);
    }
    return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, Math.round(v / 1024)]));
  };
  const t0 = Date.now();
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(max)) if (m[k] > max[k]) max[k] = m[k];
    if (m.rss >= atPeak.rss + 2 * 1048576 && process.env.RSS_SAMPLER_SMAPS) smaps = groupSmaps();
    if (m.rss >= atPeak.rss) {
      const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((x) => [x.space_name, Math.round(x.space_size / 1048576)]));
      atPeak = { ...m, t: Date.now() - t0, spaces };
    }
    if (series.length < 20000) series.push([Date.now() - t0, m.rss, m.heapTotal, m.external, m.arrayBuffers]);
  };
  const timer = setInterval(sample, 10);
  // A diagnostic: with --expose-gc and RSS_SAMPLER_GC_MS, a full GC that often (what is live vs garbage).
  if (process.env.RSS_SAMPLER_GC_MS && typeof global.gc === 'function') setInterval(() => global.gc(), Number(process.env.RSS_SAMPLER_GC_MS)).unref();
  timer.unref();
  // RSS_SAMPLER_ALLOCS: Buffers of 4 KiB or more allocated on this thread, summed by caller (Buffer.alloc*,
  // Buffer.concat; not native allocations, not other threads' own). Slows the run: for finding who allocates.
  const allocs = new Map();
  if (process.env.RSS_SAMPLER_ALLOCS) {
    const caller = () =>
      new Error().stack
        .split('\n')
        .slice(3, 7)
        .map((l) => l.trim().replace(/^at /, '').replace(/.*node_modules\//, '').slice(0, 110))
        .join(' < ');
    for (const name of ['allocUnsafe', 'allocUnsafeSlow', 'alloc', 'concat']) {
      const original = Buffer[name];
      Buffer[name] = function (...args) {
        const b = original.apply(this, args);
        if (b.length >= 4096) {
          const key = `${name}: ${caller()}`;
          const c = allocs.get(key) ?? { n: 0, bytes: 0 };
          c.n++;
          c.bytes += b.length;
          allocs.set(key, c);
        }
        return b;
      };
    }
  }
  process.on('exit', () => {
    sample();
    if (allocs.size) {
      const top = [...allocs].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 20);
      fs.writeFileSync(`${out}.allocs.txt`, top.map(([k, c]) => `${(c.bytes / 1048576).toFixed(0).padStart(6)} MB ${String(c.n).padStart(7)}x  ${k}`).join('\n') + '\n');
    }
    fs.writeFileSync(out, JSON.stringify({ max, atPeak, smaps, maxRSS: process.resourceUsage().maxRSS * 1024, series }));
  });
}
