#!/usr/bin/env node
/**
 * S3 upload throughput: our upload path and our CLI against `aws s3 cp`
 * with the same part size, on the same incompressible file, to a local Ceph
 * radosgw started here, in alternation. See bench/README.md ("S3 upload").
 *
 *   node bench/s3.mjs [--size-mib 1024] [--repeat 3] [--part-mib N] [--queue N]
 *                     [--tools aws,aws-ours,dest,backup] [--endpoint URL]
 *                     [--idle-wait 20] [--retry-disturbed 1] [--results bench/RESULTS-s3.md]
 *
 * `npm run bench:s3` builds dist/ first, then runs this with the defaults.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { describeMachine, ensureRandomFile, fmt, HAVE_GNU_TIME, measureQuietly, median, processCpuSeconds, shown } from './measure.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.dirname(BENCH_DIR);
const MiB = 1024 * 1024;

function usage(message) {
  if (message) process.stderr.write(`bench:s3: ${message}\n`);
  process.stderr.write(
    'usage: node bench/s3.mjs [--size-mib N] [--repeat N] [--part-mib N] [--queue N] [--tools aws,aws-ours,dest,backup]\n' +
      '                         [--cli-format tar.gz|zip|tar.bz2] [--endpoint URL] [--bucket NAME] [--seed N]\n' +
      '                         [--idle-wait S] [--retry-disturbed N] [--out DIR] [--results FILE] [--dist DIR]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    sizeMiB: 1024,
    repeat: 3,
    partMiB: undefined,
    queue: undefined,
    tools: ['aws', 'aws-ours', 'dest', 'backup'],
    cliFormat: 'tar.gz',
    endpoint: process.env.S3_BENCH_ENDPOINT,
    bucket: 'bench',
    seed: 20240101,
    idleWait: 20,
    retryDisturbed: 1,
    out: path.join(BENCH_DIR, 'out', 's3'),
    results: path.join(BENCH_DIR, 'RESULTS-s3.md'),
    dist: path.join(PROJECT_DIR, 'dist'),
  };
  const num = (v, name, min = 1) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) usage(`${name} must be a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    switch (flag) {
      case '--size-mib': o.sizeMiB = num(value(), flag); break;
      case '--repeat': o.repeat = num(value(), flag); break;
      case '--part-mib': o.partMiB = num(value(), flag, 5); break;
      case '--queue': o.queue = num(value(), flag); break;
      case '--tools': o.tools = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--cli-format': o.cliFormat = value(); break;
      case '--endpoint': o.endpoint = value(); break;
      case '--bucket': o.bucket = value(); break;
      case '--seed': o.seed = num(value(), flag, 0); break;
      case '--idle-wait': o.idleWait = num(value(), flag, 0); break;
      case '--retry-disturbed': o.retryDisturbed = num(value(), flag, 0); break;
      case '--out': o.out = path.resolve(value()); break;
      case '--results': o.results = path.resolve(value()); break;
      case '--dist': o.dist = path.resolve(value()); break;
      case '-h':
      case '--help': usage(); break;
      default: usage(`unknown option ${argv[i]}`);
    }
  }
  for (const t of o.tools) if (!['aws', 'aws-ours', 'dest', 'backup'].includes(t)) usage(`unknown tool ${t}`);
  return o;
}

const log = (s) => process.stderr.write(`${s}\n`);

/** Compiles tests/helpers/ceph.ts (the test suite's throw-away Ceph) with the project's tsc. */
async function loadCephHelper(outDir) {
  const dir = path.join(outDir, 'ceph-helper');
  const src = path.join(PROJECT_DIR, 'tests', 'helpers', 'ceph.ts');
  const built = path.join(dir, 'ceph.js');
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(src).mtimeMs) {
    const tsc = path.join(PROJECT_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, src, '--outDir', dir, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`compiling ${src}: ${r.stdout}${r.stderr}`);
  }
  return import(pathToFileURL(built).href);
}

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const o = parseArgs(process.argv.slice(2));
  for (const f of ['bin.js', 'storage/s3.js']) {
    if (!fs.existsSync(path.join(o.dist, f))) usage(`${path.join(o.dist, f)} is missing: run npm run build first (npm run bench:s3 does)`);
  }
  if (o.tools.some((t) => t.startsWith('aws')) && spawnSync('aws', ['--version']).status !== 0) {
    log('aws (the AWS CLI) is not installed: the aws rows are skipped');
    o.tools = o.tools.filter((t) => !t.startsWith('aws'));
  }
  fs.mkdirSync(o.out, { recursive: true });
  const file = ensureRandomFile(o.out, o.sizeMiB, o.seed, log);
  const size = fs.statSync(file).size;
  const { partSizeFor } = await import(pathToFileURL(path.join(o.dist, 'storage', 'part-size.js')).href);
  const partSize = o.partMiB ? o.partMiB * MiB : partSizeFor(size);
  // What S3Destination uses when not told (partsInFlight in src/storage/s3.ts), read from the build.
  const ourQueue = o.queue ?? (await defaultQueueSize(o.dist, partSize));

  // The S3 server: a given endpoint, or a fresh Ceph with room for a few copies of the file.
  let server;
  let conf;
  const keys = { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'testsecret' };
  if (o.endpoint) {
    server = { endpoint: o.endpoint.replace(/\/+$/, ''), ...keys, region: process.env.AWS_REGION ?? 'us-east-1', stop: async () => {} };
  } else {
    const ceph = await loadCephHelper(o.out);
    log('starting Ceph (radosgw, in-memory OSD) ...');
    server = await ceph.startCeph({ log, memstoreBytes: Math.max(3 * 1024 ** 3, 3 * size + 1024 ** 3) });
    // On Ctrl-C (bench/measure.mjs exits), the helper's exit hook kills the daemons.
    await ceph.warmUp(server.endpoint, server);
    conf = server.conf;
  }
  const serverPids = conf ? cephPids(path.dirname(conf)) : [];
  const serverCpu = serverPids.length ? () => serverPids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0) : undefined;

  try {
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: o.bucket })).catch((e) => {
      if (e.name !== 'BucketAlreadyOwnedByYou') throw e;
    });
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_REGION: server.region,
      AWS_DEFAULT_REGION: server.region,
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    delete env.AWS_PROFILE;
    delete env.AWS_ENDPOINT_URL;
    delete env.AWS_ENDPOINT_URL_S3;

    // AWS CLI configs: the same part size; its default concurrency (10), and ours.
    const awsConfig = (name, concurrency) => {
      const p = path.join(o.out, `aws-config-${name}`);
      const lines = ['[default]', `region = ${server.region}`, 's3 =', `  multipart_chunksize = ${partSize / MiB}MB`, `  multipart_threshold = ${partSize / MiB}MB`];
      if (concurrency !== undefined) lines.push(`  max_concurrent_requests = ${concurrency}`);
      fs.writeFileSync(p, `${lines.join('\n')}\n`);
      return p;
    };
    const cwd = path.join(o.out, 'cwd');
    fs.mkdirSync(cwd, { recursive: true });
    const logFile = path.join(o.out, 'backup-tool.log');
    const TOOLS = {
      aws: {
        label: 'aws s3 cp (CLI default concurrency)',
        concurrency: '10 (CLI default)',
        command: (rep) => {
          const config = awsConfig('default', undefined);
          return { cmd: 'aws', args: ['s3', 'cp', file, `s3://${o.bucket}/aws-${rep}.bin`, '--endpoint-url', server.endpoint, '--only-show-errors', '--no-progress'], env: { ...env, AWS_CONFIG_FILE: config }, showEnv: { AWS_CONFIG_FILE: config } };
        },
        key: (rep) => ({ key: `aws-${rep}.bin`, bytes: size }),
      },
      'aws-ours': {
        label: `aws s3 cp (max_concurrent_requests ${ourQueue})`,
        concurrency: String(ourQueue),
        command: (rep) => {
          const config = awsConfig(`q${ourQueue}`, ourQueue);
          return { cmd: 'aws', args: ['s3', 'cp', file, `s3://${o.bucket}/awsq-${rep}.bin`, '--endpoint-url', server.endpoint, '--only-show-errors', '--no-progress'], env: { ...env, AWS_CONFIG_FILE: config }, showEnv: { AWS_CONFIG_FILE: config } };
        },
        key: (rep) => ({ key: `awsq-${rep}.bin`, bytes: size }),
      },
      dest: {
        label: 'ours: S3Destination (upload path only)',
        concurrency: String(ourQueue),
        command: (rep) => ({
          cmd: process.execPath,
          args: [path.join(BENCH_DIR, 's3-upload.mjs'), '--file', file, '--bucket', o.bucket, '--endpoint', server.endpoint, '--key', `dest-${rep}.bin`, '--part-mib', String(partSize / MiB), ...(o.queue ? ['--queue', String(o.queue)] : []), '--dist', o.dist],
          env,
        }),
        key: (rep) => ({ key: `dest-${rep}.bin`, bytes: size }),
      },
      backup: {
        label: `ours: backup run --no-local --format ${o.cliFormat} (end to end)`,
        concurrency: String(ourQueue),
        command: (rep) => ({
          cmd: process.execPath,
          args: [path.join(o.dist, 'bin.js'), 'run', '--source', file, '--no-local', '--s3-bucket', o.bucket, '--s3-endpoint', server.endpoint, '--format', o.cliFormat, '--name', `backup-${rep}`, '--json', '--log-file', logFile],
          cwd,
          env,
        }),
        key: (rep, json) => (json?.s3 ? { key: json.s3.key, bytes: json.bytes } : undefined),
      },
    };

    const emptyBucket = async () => {
      for (;;) {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: o.bucket }));
        for (const obj of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: obj.Key }));
        if (!listed.IsTruncated) break;
      }
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: o.bucket }));
      for (const u of uploads.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: u.Key, UploadId: u.UploadId }));
      // Deleted multipart data is only freed by radosgw's garbage collector (hours later by default): now.
      if (conf) spawnSync('radosgw-admin', ['-c', conf, '-n', 'client.rgw', 'gc', 'process', '--include-all'], { stdio: 'ignore' });
    };

    const tools = o.tools.map((id) => ({ id, ...TOOLS[id] }));
    const samples = new Map(tools.map((t) => [t.id, []]));
    const commands = new Map();
    const failures = [];
    const timeFile = path.join(o.out, 'time.txt');
    log(`bench:s3: ${(size / MiB).toFixed(0)} MiB file, ${partSize / MiB} MiB parts, our queueSize ${ourQueue}, ${o.repeat} repeat(s), ${server.endpoint}`);
    for (let rep = 1; rep <= o.repeat; rep++) {
      // Rotate the order each repeat, so no tool always runs first (warm caches, GC state).
      const order = tools.map((_, i) => tools[(i + rep - 1) % tools.length]);
      for (const tool of order) {
        const command = tool.command(rep);
        if (!commands.has(tool.id)) commands.set(tool.id, shown(command));
        const m = await measureQuietly(command, { timeFile, idleWait: o.idleWait, retries: o.retryDisturbed, before: emptyBucket, serverCpu, log, label: tool.label });
        let json;
        try {
          json = JSON.parse(m.stdout.trim().split('\n').pop());
        } catch {
          json = undefined;
        }
        const sample = { rep, attempts: m.attempts, wall: m.wall, user: m.user, sys: m.sys, rssKB: m.rssKB, other: m.other, server: m.server, ok: m.code === 0, phases: tool.id === 'dest' ? json : undefined };
        const expected = tool.key(rep, json);
        if (sample.ok && expected) {
          const head = await client.send(new HeadObjectCommand({ Bucket: o.bucket, Key: expected.key })).catch((e) => ({ error: e }));
          if (head.error || head.ContentLength !== expected.bytes) {
            sample.ok = false;
            sample.why = `s3://${o.bucket}/${expected.key}: ${head.error ? head.error.name : `${head.ContentLength} bytes, ${expected.bytes} expected`}`;
          }
        } else if (sample.ok) {
          sample.ok = false;
          sample.why = 'no result';
        }
        if (!sample.ok) {
          sample.why ??= `exit ${m.code}: ${m.stderr.trim().split('\n').slice(-5).join(' | ')}`;
          failures.push({ tool: tool.label, rep, command: commands.get(tool.id), why: sample.why });
          log(`  FAILED ${tool.label} run ${rep}: ${sample.why}`);
        }
        samples.get(tool.id).push(sample);
        log(
          `  run ${rep} ${tool.label}: ${fmt(m.wall)} s, ${fmt(size / MiB / m.wall, 1)} MiB/s, CPU ${fmt(m.user + m.sys)} s, server CPU ${fmt(m.server)} s, RSS ${fmt(m.rssKB / 1024, 0)} MB, other load ${fmt(m.other)}${sample.phases ? `, upload ${sample.phases.uploadMs} ms, commit ${sample.phases.commitMs} ms` : ''}`,
        );
      }
    }
    await emptyBucket();
    client.destroy();

    const report = renderReport({ o, file, size, partSize, ourQueue, tools, samples, commands, failures, server });
    fs.mkdirSync(path.dirname(o.results), { recursive: true });
    fs.writeFileSync(o.results, report);
    fs.writeFileSync(path.join(o.out, `samples-${Date.now()}.json`), JSON.stringify(Object.fromEntries(samples), null, 1));
    process.stdout.write(report);
    log(`written: ${o.results}`);
    process.exitCode = failures.length ? 1 : 0;
  } finally {
    await server.stop();
  }
}

/** Pids of the Ceph daemons, from their pid files. */
function cephPids(dir) {
  const runDir = path.join(dir, 'run');
  return fs
    .readdirSync(runDir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number.parseInt(fs.readFileSync(path.join(runDir, f), 'utf8'), 10))
    .filter((pid) => pid > 0);
}

/** S3Destination's queueSize for this part size when none is given (src/storage/s3.ts partsInFlight). */
async function defaultQueueSize(dist, partSize) {
  const text = fs.readFileSync(path.join(dist, 'storage', 's3.js'), 'utf8');
  const m = /function partsInFlight\(partSize\) \{\s*return ([^;]+);/.exec(text);
  // eslint-disable-next-line no-new-func
  return m ? new Function('partSize', `return ${m[1]};`)(partSize) : NaN;
}

function renderReport({ o, file, size, partSize, ourQueue, tools, samples, commands, failures, server }) {
  const stat = (id, f) => median(samples.get(id).filter((s) => s.ok).map(f));
  const ref = tools.find((t) => t.id === 'aws') ? 'aws' : tools.find((t) => t.id === 'aws-ours') ? 'aws-ours' : undefined;
  const refQ = tools.find((t) => t.id === 'aws-ours') ? 'aws-ours' : undefined;
  const git = (...a) => spawnSync('git', ['-C', PROJECT_DIR, ...a], { encoding: 'utf8' }).stdout.trim();
  const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean);
  const awsVersion = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  const lines = [];
  lines.push('# S3 upload throughput: ours vs `aws s3 cp`', '');
  lines.push(`Generated by \`node bench/s3.mjs ${process.argv.slice(2).map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}\` on ${new Date().toISOString()}.`, '');
  lines.push(`- Machine: ${describeMachine()}.`);
  lines.push(`- Code: git ${git('rev-parse', '--short', 'HEAD')}${dirty.length ? ` with uncommitted src/ changes (${dirty.map((l) => l.slice(3)).join(', ')})` : ''}; dist/ built from it.`);
  lines.push(`- AWS CLI: ${(awsVersion.stdout || awsVersion.stderr || 'not installed').trim()}.`);
  lines.push(`- S3 server: ${o.endpoint ? server.endpoint : 'a fresh single-node Ceph radosgw 16 on 127.0.0.1 (in-memory OSD), started by the bench on the same 2 cores'}.`);
  lines.push(`- Data: ${file.replace(PROJECT_DIR + '/', '')}, ${(size / MiB).toFixed(0)} MiB of seeded AES-CTR keystream (incompressible). Part size ${partSize / MiB} MiB for every tool (ours: partSizeFor(file size); the CLI: multipart_chunksize/threshold).`);
  lines.push(`- ${o.repeat} repeat(s) in alternation, order rotated each repeat; before each run the bucket is emptied and radosgw's garbage collector run (untimed), then the bench waits (up to ${o.idleWait} s) for a quiet machine; a run during which other processes used >= 0.3 cores is redone (up to ${o.retryDisturbed} time(s)).`);
  lines.push('');
  lines.push(`| tool | parts in flight | wall s (median, min-max) | vs \`aws s3 cp\` default | vs \`aws s3 cp\` at ${ourQueue} | MiB/s | CPU s (client) | CPU s (Ceph) | peak RSS MB | other load (cores, worst) | runs ok |`);
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const t of tools) {
    const s = samples.get(t.id);
    const ok = s.filter((x) => x.ok);
    const wall = stat(t.id, (x) => x.wall);
    const walls = ok.map((x) => x.wall);
    const ratio = (r) => (r && r !== t.id ? `${fmt(wall / stat(r, (x) => x.wall))}x` : r === t.id ? '1.00x' : 'n/a');
    lines.push(
      `| ${t.label} | ${t.concurrency} | ${fmt(wall)} (${fmt(Math.min(...walls))}-${fmt(Math.max(...walls))}) | ${ratio(ref)} | ${ratio(refQ)} | ${fmt(size / MiB / wall, 1)} | ${fmt(stat(t.id, (x) => x.user + x.sys))} | ${fmt(stat(t.id, (x) => x.server))} | ${fmt(stat(t.id, (x) => x.rssKB / 1024), 0)} | ${fmt(Math.max(...s.map((x) => x.other)))} | ${ok.length}/${s.length} |`,
    );
  }
  const dest = samples.get('dest')?.filter((x) => x.ok && x.phases);
  if (dest?.length) {
    lines.push('');
    lines.push(
      `Our upload path, by phase (medians): start-up + checkBucket + reserve ${fmt(median(dest.map((x) => x.phases.startMs)) / 1000)} s, stream + multipart upload ${fmt(median(dest.map((x) => x.phases.uploadMs)) / 1000)} s (${fmt(size / MiB / (median(dest.map((x) => x.phases.uploadMs)) / 1000), 1)} MiB/s), commit (HeadObject, CopyObject to publish, HeadObject, delete the partial) ${fmt(median(dest.map((x) => x.phases.commitMs)) / 1000)} s, sidecar ${fmt(median(dest.map((x) => x.phases.sidecarMs)) / 1000)} s.`,
    );
  }
  lines.push('');
  lines.push('Wall time is the whole process (interpreter start-up included) under `/usr/bin/time`; MiB/s is the file size over it. Ratios below 1.00x mean ours was faster. CPU s (client) is user + system of the measured process tree; CPU s (Ceph) is what the mon, OSD and radosgw used during the run (they share the 2 cores with the client). Peak RSS is the largest process in the tree. `backup run` also archives and compresses (tar.gz of random data: the bytes do not shrink), so its row is the end-to-end figure, not a like-for-like upload comparison.');
  lines.push('', '## Commands', '');
  for (const t of tools) lines.push(`- ${t.label}: \`${commands.get(t.id)}\``);
  const awsConfigFile = path.join(o.out, `aws-config-q${ourQueue}`);
  if (fs.existsSync(awsConfigFile)) {
    lines.push('', 'The AWS CLI config files contain:', '', '```ini');
    lines.push(fs.readFileSync(awsConfigFile, 'utf8').trim());
    lines.push('```', '', '(the "default" one is the same without `max_concurrent_requests`).');
  }
  if (failures.length) {
    lines.push('', '## Failures', '');
    for (const f of failures) lines.push(`- ${f.tool} run ${f.rep}: ${f.why} (\`${f.command}\`)`);
  }
  if (!HAVE_GNU_TIME) lines.push('', '/usr/bin/time is not installed: no CPU or RSS figures.');
  return `${lines.join('\n')}\n`;
}

await main();
