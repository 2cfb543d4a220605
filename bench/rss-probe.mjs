#!/usr/bin/env node
/**
 * Where the memory of a run to several destinations goes: a quick probe, not
 * a benchmark (bench/destinations.mjs is the benchmark).
 *
 *   node bench/rss-probe.mjs serve                      # start Ceph, sshd, Azurite; stay up (Ctrl-C stops them)
 *   node bench/rss-probe.mjs run [--sets local,s3,3-2-1] [--source PATH] [--repeat N] [--dist DIR]
 *                                [--trace-gc] [--gc-ms N] [--smaps] [--allocs] [--gc-log] [--snapshot-mb N]
 *
 * `serve` writes bench/out/rss-probe/servers.json; `run` reads it and runs
 * `node dist/bin.js run --config FILE --json` per set under /usr/bin/time,
 * with bench/rss-sampler.cjs preloaded (`--require`: a probe of this
 * script, not something a user passes): process.memoryUsage() every 10 ms,
 * printed at exit as the peak of each figure and the split at the moment of
 * peak RSS (heap used, external, arrayBuffers, and the rest: code, stacks,
 * worker threads' heaps, malloc'ed native memory), with the mean and 95th
 * percentile of the RSS samples: the peak of one run swings by +-15 MB with
 * the timing of V8's collections, so two builds are better compared on the
 * mean and p95 of several runs. --dist must be absolute and have a
 * package.json beside it.
 *
 * Diagnostics (each changes what it measures a little): --trace-gc (V8's
 * GC log, to bench/out/rss-probe/gc-SET.txt), --gc-ms N (--expose-gc and a
 * full GC every N ms: what is live against what is garbage), --smaps
 * (resident MB by kind of mapping near the peak: the node binary, V8's
 * 256 KiB pages, malloc's [heap], larger anonymous mappings), --allocs
 * (Buffers of 4 KiB or more allocated on the main thread, by caller, and
 * those of the 2 s before the peak), --gc-log (every GC with external
 * memory after it, in sampler-SET.json), --snapshot-mb N (one heap snapshot
 * when RSS first passes N MB). RSS_SAMPLER_GC_TYPE=minor with --gc-ms: a
 * scavenge instead of a full GC.
 *
 * PROBE_NODE_ARGS="..." adds node options to the measured CLI (e.g.
 * "--import FILE" to try V8 flags set at start-up).
 *
 * Sets: local, s3, azure, sftp, 3-2-1 (local + s3 + sftp), all, or any
 * combination written with + (local+s3).
 * --source: what to back up (default: the big corpus's mixed.dat, 300 MiB,
 * ~190 MB of tar.gz: a run in well under a minute).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.dirname(BENCH_DIR);
const OUT = path.join(BENCH_DIR, 'out', 'rss-probe');
const SERVERS = path.join(OUT, 'servers.json');
const log = (s) => process.stderr.write(`${s}\n`);

const [mode, ...rest] = process.argv.slice(2);
const opts = { sets: 'local,s3,sftp,3-2-1', source: path.join(BENCH_DIR, 'corpus', 'big', 'big', 'mixed.dat'), repeat: 1, dist: path.join(PROJECT_DIR, 'dist'), traceGc: false, format: 'tar.gz' };
for (let i = 0; i < rest.length; i++) {
  const flag = rest[i];
  if (flag === '--trace-gc') opts.traceGc = true;
  else if (flag === '--smaps') opts.smaps = true;
  else if (flag === '--allocs') opts.allocs = true;
  else if (flag === '--gc-log') opts.gcLog = true;
  else if (flag.startsWith('--')) opts[flag.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = rest[++i];
}

async function helpers() {
  const dir = path.join(OUT, 'helpers');
  const names = ['ceph', 'azurite', 'sshd'];
  const srcs = names.map((n) => path.join(PROJECT_DIR, 'tests', 'helpers', `${n}.ts`));
  if (names.some((n) => !fs.existsSync(path.join(dir, `${n}.js`)))) {
    const tsc = path.join(PROJECT_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, ...srcs, '--outDir', dir, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${r.stdout}${r.stderr}`);
  }
  fs.copyFileSync(path.join(PROJECT_DIR, 'tests', 'helpers', 'azurite-guard.mjs'), path.join(dir, 'azurite-guard.mjs'));
  const load = (n) => import(pathToFileURL(path.join(dir, `${n}.js`)).href);
  return { ceph: await load('ceph'), azurite: await load('azurite'), sshd: await load('sshd') };
}

async function serve() {
  fs.mkdirSync(OUT, { recursive: true });
  const h = await helpers();
  const servers = [];
  const stop = async () => {
    for (const s of servers.reverse()) await s.stop().catch(() => undefined);
    fs.rmSync(SERVERS, { force: true });
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const s3 = await h.ceph.startCeph({ log, memstoreBytes: 4 * 1024 ** 3 });
  servers.push(s3);
  await h.ceph.warmUp(s3.endpoint, s3);
  const azurite = await h.azurite.startAzurite({ baseDir: OUT });
  servers.push(azurite);
  const sshd = await h.sshd.startSshd();
  servers.push(sshd);
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3, forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: 'probe' }));
  client.destroy();
  const { BlobServiceClient } = await import('@azure/storage-blob');
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('probe').createIfNotExists();
  fs.writeFileSync(
    SERVERS,
    JSON.stringify({ s3: { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, conf: s3.conf }, azurite: { accountName: azurite.accountName, accountKey: azurite.accountKey, endpoint: azurite.endpoint }, sshd: { port: sshd.port, user: sshd.user, root: sshd.root, privateKeyPath: sshd.privateKeyPath, knownHostsPath: sshd.knownHostsPath } }, null, 1),
  );
  log(`servers up: ${SERVERS}`);
  setInterval(() => undefined, 1 << 30);
}

async function run() {
  const s = JSON.parse(fs.readFileSync(SERVERS, 'utf8'));
  const work = path.join(OUT, 'work');
  const sftpDir = path.join(s.sshd.root, 'probe');
  const DEST = {
    local: { name: 'local', type: 'local', path: path.join(work, 'local') },
    s3: { name: 's3', type: 's3', bucket: 'probe', endpoint: s.s3.endpoint, region: s.s3.region },
    azure: { name: 'azure', type: 'azure', container: 'probe', account: s.azurite.accountName, endpoint: s.azurite.endpoint },
    sftp: { name: 'sftp', type: 'sftp', host: '127.0.0.1', port: s.sshd.port, user: s.sshd.user, path: sftpDir, identityFile: s.sshd.privateKeyPath, knownHostsFile: s.sshd.knownHostsPath },
  };
  const SETS = { local: ['local'], s3: ['s3'], azure: ['azure'], sftp: ['sftp'], '3-2-1': ['local', 's3', 'sftp'], all: ['local', 's3', 'azure', 'sftp'] };
  const env = { ...process.env, AWS_ACCESS_KEY_ID: s.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s.s3.secretAccessKey, AWS_REGION: s.s3.region, AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AZURE_STORAGE_KEY: s.azurite.accountKey };
  const { S3Client, ListObjectsV2Command, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint: s.s3.endpoint, region: s.s3.region, credentials: s.s3, forcePathStyle: true });
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  const container = new BlobServiceClient(s.azurite.endpoint, new StorageSharedKeyCredential(s.azurite.accountName, s.azurite.accountKey)).getContainerClient('probe');
  const clean = async () => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(DEST.local.path, { recursive: true });
    fs.rmSync(sftpDir, { recursive: true, force: true });
    fs.mkdirSync(sftpDir, { recursive: true });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'probe' }));
    for (const o of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: 'probe', Key: o.Key }));
    if (s.s3.conf) spawnSync('radosgw-admin', ['-c', s.s3.conf, '-n', 'client.rgw', 'gc', 'process', '--include-all'], { stdio: 'ignore' });
    for await (const b of container.listBlobsFlat()) await container.deleteBlob(b.name);
  };
  const sampler = path.join(BENCH_DIR, 'rss-sampler.cjs');
  for (let rep = 1; rep <= Number(opts.repeat); rep++) {
    for (const id of opts.sets.split(',')) {
      await clean();
      const config = path.join(OUT, `${id}.json`);
      fs.writeFileSync(config, JSON.stringify({ sources: [opts.source], format: opts.format, name: `probe-${id}`, destinations: (SETS[id] ?? id.split('+')).map((n) => DEST[n]) }));
      const nodeArgs = ['--require', sampler, ...(opts.traceGc ? ['--trace-gc'] : []), ...(opts.gcMs ? ['--expose-gc'] : []), ...(process.env.PROBE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean), path.join(opts.dist, 'bin.js'), 'run', '--config', config, '--json', '--log-file', path.join(OUT, 'tool.log')];
      const timeFile = path.join(OUT, 'time.txt');
      const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S %M', process.execPath, ...nodeArgs], { cwd: OUT, env: { ...env, RSS_SAMPLER_OUT: path.join(OUT, `sampler-${id}.json`), ...(opts.gcMs ? { RSS_SAMPLER_GC_MS: opts.gcMs } : {}), ...(opts.smaps ? { RSS_SAMPLER_SMAPS: '1' } : {}), ...(opts.allocs ? { RSS_SAMPLER_ALLOCS: '1' } : {}), ...(opts.snapshotMb ? { RSS_SAMPLER_SNAPSHOT_MB: opts.snapshotMb } : {}), ...(opts.gcLog ? { RSS_SAMPLER_GC_LOG: '1' } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise((r) => child.on('close', r));
      const [wall, user, sys, rssKB] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
      let json;
      try {
        json = JSON.parse(out.trim().split('\n').pop());
      } catch {
        json = undefined;
      }
      const sample = JSON.parse(fs.readFileSync(path.join(OUT, `sampler-${id}.json`), 'utf8'));
      if (opts.traceGc) fs.writeFileSync(path.join(OUT, `gc-${id}.txt`), out);
      const mb = (b) => (b / 1048576).toFixed(0);
      const p = sample.atPeak;
      // Steadier than the peak for comparing two builds: the mean and 95th percentile of the samples after the first second.
      const rssSamples = sample.series.filter((x) => x[0] > 1000).map((x) => x[1]).sort((a, b) => a - b);
      const rssMean = rssSamples.reduce((a, b) => a + b, 0) / Math.max(1, rssSamples.length);
      const rssP95 = rssSamples[Math.floor(rssSamples.length * 0.95)] ?? 0;
      log(
        `${id.padEnd(6)} ${code === 0 && json?.ok ? 'ok ' : `FAILED(${code})`} wall ${wall.toFixed(2)} s cpu ${(user + sys).toFixed(1)} s  maxRSS ${(rssKB / 1024).toFixed(0)} MB (mean ${mb(rssMean)}, p95 ${mb(rssP95)}) | at peak rss ${mb(p.rss)}: heapUsed ${mb(p.heapUsed)} heapTotal ${mb(p.heapTotal)} external ${mb(p.external)} (arrayBuffers ${mb(p.arrayBuffers)}) other ${mb(p.rss - p.heapTotal - p.external)} | max external ${mb(sample.max.external)} arrayBuffers ${mb(sample.max.arrayBuffers)} heapTotal ${mb(sample.max.heapTotal)}${json?.bytes ? ` | ${(json.bytes / 1e6).toFixed(1)} MB` : ''}\n       spaces at peak (MB): ${JSON.stringify(p.spaces)}${sample.smaps ? `\n       smaps near peak (MB): ${JSON.stringify(sample.smaps)}` : ''}`,
      );
      if (opts.allocs) log(fs.readFileSync(path.join(OUT, `sampler-${id}.json.allocs.txt`), 'utf8'));
      if (!(code === 0 && json?.ok)) log(`  ${err.trim().split('\n').slice(-5).join('\n  ')}\n  ${out.trim().slice(-500)}`);
    }
  }
  client.destroy();
}

if (mode === 'serve') await serve();
else if (mode === 'run') await run();
else {
  log('usage: node bench/rss-probe.mjs serve | run [--sets a,b] [--source PATH] [--repeat N] [--dist DIR] [--trace-gc] [--gc-ms N] [--smaps] [--allocs]');
  process.exit(2);
}
