#!/usr/bin/env node
/**
 * Where a run to several destinations spends its time, without the
 * archiver: an existing archive file is streamed through HashStream and
 * FanOut into dist/'s stores, with the life cycle run-backup.ts and
 * publish.ts give them (reserve, open, stream, then verify one after the
 * other, then sidecars + publish one after the other, local last). Used by
 * bench/destinations.mjs --profile; prints one JSON line.
 *
 *   node bench/fanout-profile.mjs --file ARCHIVE --specs JSON [--dist DIR] [--buffer-mib N]
 *
 * --buffer-mib N: an experiment, not what run-backup does: each destination
 * gets a write queue of N MiB (its Writable's highWaterMark raised), so the fan-out can run up to N MiB
 * ahead of a destination that is momentarily busy (the others go on).
 *
 * JSON: [{ "name", "type": "local"|"s3"|"azure", "path" | "target" }] (open-store.ts's StoreSpec).
 * Credentials come from the environment, as for the CLI.
 *
 * Per destination it reports how long the fan-out waited for it ("held":
 * from a write() that returned false to its 'drain', summed), and how long
 * its verify, sidecars and publish took.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const dist = path.resolve(args.dist ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist'));
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
const [{ HashStream }, { FanOut }, { openStore }] = await Promise.all([load('archive/hash-stream.js'), load('storage/fan-out.js'), load('storage/open-store.js')]);

const file = args.file;
const specs = JSON.parse(args.specs);
const signal = new AbortController().signal;
const logger = { debug() {}, info() {}, warn: (m) => process.stderr.write(`warn: ${m}\n`), error: (m) => process.stderr.write(`error: ${m}\n`) };
const ms = (t) => Math.round(performance.now() - t);

const t0 = performance.now();
const ctx = { env: process.env, home: os.homedir(), cwd: process.cwd() };
const stores = await Promise.all(specs.map((spec) => openStore(spec, ctx)));
const writes = stores.map((store) => store.beginWrite({ logger, signal, expectedBytes: fs.statSync(file).size, metadata: { 'backup-tool': 'backup-automation/bench' } }));
const name = `profile-${process.pid}.tar.gz`;
for (const w of writes) if (!(await w.reserve(name))) throw new Error(`${name} is taken`);
const streams = [];
for (const w of writes) streams.push(await w.open(signal));
const startMs = ms(t0);

// Time the fan-out waits for each destination: write() false -> 'drain'.
const held = specs.map(() => 0);
streams.forEach((stream, i) => {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    const ok = write(chunk, ...rest);
    if (!ok) {
      const since = performance.now();
      stream.once('drain', () => (held[i] += performance.now() - since));
    }
    return ok;
  };
});
const t1 = performance.now();
const hash = new HashStream();
const bufferBytes = Number(args['buffer-mib'] ?? 0) * 1024 * 1024;
// (A PassThrough piped in front does not work: S3's stream then never finishes. Raising the
// Writable's own threshold is the same thing: write() returns true until N MiB are queued.)
if (bufferBytes) for (const stream of streams) stream._writableState.highWaterMark = bufferBytes;
const fanOut = new FanOut(specs.map((s, i) => ({ name: s.name, stream: streams[i] })));
const cpu0 = process.cpuUsage();
await pipeline([fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), hash, fanOut]);
const streamMs = ms(t1);
const streamCpu = process.cpuUsage(cpu0);
for (const [n, e] of fanOut.failures) throw new Error(`${n}: ${e.message}`);
const info = { sha256: hash.digest(), bytes: hash.bytes };

const phases = specs.map((s) => ({ name: s.name, heldMs: 0, verifyMs: 0, publishMs: 0 }));
const t2 = performance.now();
for (const [i, w] of writes.entries()) {
  const t = performance.now();
  await w.verify(info, signal);
  phases[i].verifyMs = ms(t);
}
const verifyMs = ms(t2);
const t3 = performance.now();
const order = [...writes.keys()].sort((a, b) => Number(writes[a].kind === 'local') - Number(writes[b].kind === 'local'));
for (const i of order) {
  const t = performance.now();
  await writes[i].writeSidecars([{ name: `${name}.sha256`, content: `${info.sha256}  ${name}\n` }], signal);
  await writes[i].publish(info, signal);
  phases[i].publishMs = ms(t);
}
const publishMs = ms(t3);
phases.forEach((p, i) => (p.heldMs = Math.round(held[i])));
await Promise.all(writes.map((w) => w.close().catch(() => undefined)));
process.stdout.write(
  `${JSON.stringify({ bufferMiB: bufferBytes / 1024 / 1024, rssMB: Math.round(process.resourceUsage().maxRSS / 1024), bytes: info.bytes, startMs, streamMs, streamCpuMs: Math.round((streamCpu.user + streamCpu.system) / 1000), verifyMs, publishMs, totalMs: ms(t0), destinations: phases })}\n`,
);
