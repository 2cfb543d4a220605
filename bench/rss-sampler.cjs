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
  let snapshotTaken = false;
  /** Resident kB of /proc/self/smaps by kind: file-backed (by name), [heap], [stack], anonymous by size class. */
  const groupSmaps = () => {
    const groups = {};
    const big = [];
    let name = '';
    let size = 0;
    let range = '';
    for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
      if (head) {
        size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
        range = `${head[1]} ${Math.round(size / 1024)}MB`;
        const file = head[3];
        name = file ? (file.startsWith('/') ? (file.includes('node') && !file.includes('.node') ? 'node binary' : file.endsWith('.node') ? 'native addons' : 'other files') : file) : size >= 60 * 1024 ? 'anon >= 60 MB (malloc arenas, V8 reservations)' : size >= 8 * 1024 ? 'anon 8-60 MB' : size >= 1024 ? 'anon 1-8 MB' : 'anon < 1 MB';
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) {
        groups[name] = (groups[name] ?? 0) + Number(rss[1]);
        if (name.startsWith('anon') || name === '[heap]') big.push([range, Math.round(Number(rss[1]) / 1024)]);
      }
    }
    const out = Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, Math.round(v / 1024)]));
    out.biggest = big.filter((b) => b[1] >= 1).sort((a, b) => b[1] - a[1]).slice(0, 16).map((b) => `${b[0]}:${b[1]}`).join(' ');
    return out;
  };
  const t0 = Date.now();
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(max)) if (m[k] > max[k]) max[k] = m[k];
    if (m.rss >= atPeak.rss + 2 * 1048576 && process.env.RSS_SAMPLER_SMAPS) smaps = groupSmaps();
    // RSS_SAMPLER_SNAPSHOT_MB: one heap snapshot (after V8's own full GC: what is live) the first time RSS passes it.
    if (process.env.RSS_SAMPLER_SNAPSHOT_MB && !snapshotTaken && m.rss >= Number(process.env.RSS_SAMPLER_SNAPSHOT_MB) * 1048576) {
      snapshotTaken = true;
      v8.writeHeapSnapshot(`${out}.heapsnapshot`);
    }
    if (m.rss >= atPeak.rss) {
      const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((x) => [x.space_name, Math.round(x.space_size / 1048576)]));
      atPeak = { ...m, t: Date.now() - t0, spaces };
    }
    if (series.length < 20000) series.push([Date.now() - t0, m.rss, m.heapTotal, m.external, m.arrayBuffers]);
  };
  const timer = setInterval(sample, 10);
  // RSS_SAMPLER_GC_LOG: each GC (minor = scavenge, major = mark-compact) with external memory just before and after.
  const gcs = [];
  let lastExternal = 0;
  if (process.env.RSS_SAMPLER_GC_LOG) {
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    const kinds = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const m = process.memoryUsage();
        gcs.push([Math.round(e.startTime), kinds[e.detail?.kind ?? e.kind] ?? String(e.detail?.kind), Math.round(e.duration * 10) / 10, m.external, m.arrayBuffers, m.rss]);
      }
    }).observe({ entryTypes: ['gc'] });
    setInterval(() => {
      lastExternal = process.memoryUsage().external;
    }, 2).unref();
  }
  // A diagnostic: with --expose-gc and RSS_SAMPLER_GC_MS, a full GC that often (what is live vs garbage).
  if (process.env.RSS_SAMPLER_GC_MS && typeof global.gc === 'function') setInterval(() => global.gc(process.env.RSS_SAMPLER_GC_TYPE ? { type: process.env.RSS_SAMPLER_GC_TYPE } : undefined), Number(process.env.RSS_SAMPLER_GC_MS)).unref();
  timer.unref();
  // RSS_SAMPLER_ALLOCS: Buffers of 4 KiB or more allocated on this thread, summed by caller (Buffer.alloc*,
  // Buffer.concat; not native allocations, not other threads' own). Slows the run: for finding who allocates.
  const allocs = new Map();
  /** Allocations of 64 KiB or more with their time, for the window before the peak. */
  const recent = [];
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
          if (b.length >= 64 * 1024) {
            recent.push([Date.now() - t0, b.length, key]);
            if (recent.length > 50000) recent.splice(0, 10000);
          }
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
      const near = new Map();
      for (const [t, n, k] of recent) {
        if (t < atPeak.t - 2000 || t > atPeak.t) continue;
        const c = near.get(k) ?? { n: 0, bytes: 0 };
        c.n++;
        c.bytes += n;
        near.set(k, c);
      }
      const nearTop = [...near].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 12);
      fs.writeFileSync(
        `${out}.allocs.txt`,
        top.map(([k, c]) => `${(c.bytes / 1048576).toFixed(0).padStart(6)} MB ${String(c.n).padStart(7)}x  ${k}`).join('\n') +
          `\nin the 2 s before the peak (at ${atPeak.t} ms):\n` +
          nearTop.map(([k, c]) => `${(c.bytes / 1048576).toFixed(0).padStart(6)} MB ${String(c.n).padStart(7)}x  ${k}`).join('\n') +
          '\n',
      );
    }
    fs.writeFileSync(out, JSON.stringify({ max, atPeak, smaps, gcs, maxRSS: process.resourceUsage().maxRSS * 1024, series }));
  });
}
