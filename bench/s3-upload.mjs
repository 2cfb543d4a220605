#!/usr/bin/env node
/**
 * Our S3 upload path on a file's bytes, without the archiver: the file is
 * streamed through HashStream and FanOut into dist/storage/s3.js's
 * S3Destination exactly as dist/backup/run-backup.js does
 * (checkBucket, reserve, open, pipeline, commit = HeadObject + CopyObject to
 * publish + delete the partial, writeSidecars). Used by bench/s3.mjs, which
 * times it under /usr/bin/time; prints one JSON line with the phase times.
 *
 *   node bench/s3-upload.mjs --file F --bucket B --endpoint URL --key NAME
 *        [--part-mib N] [--queue N] [--dist DIR]
 *
 * Credentials come from the environment (AWS_ACCESS_KEY_ID, ...), as for the CLI.
 */
import fs from 'node:fs';
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

const t0 = performance.now();
const [s3, { HashStream }, { FanOut }, { partSizeFor }] = await Promise.all([
  load('storage/s3.js'),
  load('archive/hash-stream.js'),
  load('storage/fan-out.js'),
  load('storage/part-size.js'),
]);
const file = args.file;
const size = fs.statSync(file).size;
const target = { bucket: args.bucket, prefix: '', endpoint: args.endpoint, region: process.env.AWS_REGION };
const client = s3.createS3Client(target);
const logger = { debug() {}, info() {}, warn: (m) => process.stderr.write(`warn: ${m}\n`), error: (m) => process.stderr.write(`error: ${m}\n`) };
// run-backup sizes parts from the source bytes; --part-mib overrides (same size as the AWS CLI's).
const partSize = args['part-mib'] ? Number(args['part-mib']) * 1024 * 1024 : partSizeFor(size);
const destination = new s3.S3Destination({
  client,
  target,
  logger,
  partSize,
  ...(args.queue ? { queueSize: Number(args.queue) } : {}),
  metadata: { 'backup-tool': 'backup-automation/bench' },
});
await s3.checkBucket(client, target);
const name = args.key ?? path.basename(file);
if (!(await destination.reserve(name))) throw new Error(`${name} is taken in ${args.bucket}`);
const t1 = performance.now();
const hash = new HashStream();
const fanOut = new FanOut([{ name: destination.label, stream: await destination.open() }]);
await pipeline([fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), hash, fanOut]);
const failure = fanOut.failures.get(destination.label);
if (failure) throw failure;
const t2 = performance.now();
await destination.commit({ sha256: hash.digest(), bytes: hash.bytes });
const t3 = performance.now();
await destination.writeSidecars([{ name: `${name}.sha256`, content: `${hash.digest()}  ${name}\n` }]);
const t4 = performance.now();
process.stdout.write(
  `${JSON.stringify({
    bytes: hash.bytes,
    sha256: hash.digest(),
    partSize,
    queueSize: args.queue ? Number(args.queue) : undefined,
    startMs: Math.round(t1 - t0),
    uploadMs: Math.round(t2 - t1),
    commitMs: Math.round(t3 - t2),
    sidecarMs: Math.round(t4 - t3),
  })}\n`,
);
client.destroy();
