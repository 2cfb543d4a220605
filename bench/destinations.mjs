#!/usr/bin/env node
/**
 * Issue 11: "The fan-out must not multiply the cost: a run to three
 * destinations takes at most 1.15x the wall time of the slowest single
 * destination on the same data, with peak RSS still under 200 MB."
 *
 * One corpus, one format; `node dist/bin.js run --config FILE --json` with
 * settings.json `destinations: [...]` naming each single destination (local,
 * s3, azure, sftp), then the 3-2-1 set (local + s3 + sftp) and all four, in
 * alternation. The servers run on 127.0.0.1, started and stopped here: a
 * throw-away Ceph (tests/helpers/ceph.ts), Azurite (tests/helpers/azurite.ts)
 * and OpenSSH's sshd (tests/helpers/sshd.ts), compiled with the project's tsc
 * into bench/out/destinations/helpers/. See bench/README.md ("Several
 * destinations").
 *
 *   node bench/destinations.mjs [--corpus big] [--repeat 3] [--format tar.gz]
 *                               [--s3-endpoint URL] [--idle-wait 20] [--retry-disturbed 1]
 *                               [--out DIR] [--results bench/RESULTS-destinations.md]
 *                               [--link-mbps MB/s]
 *
 * `npm run bench:destinations` builds dist/ first, then runs this with the defaults.
 *
 * --link-mbps N puts S3, Azure and SFTP each behind a TCP proxy passing the
 * upload at N MB/s (bench/link-proxy.mjs): destinations bounded by their
 * network link, as off-site ones are, instead of by the CPU they share with
 * the CLI here (bench/RESULTS-destinations-links.md).
 * BENCH_CLI_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" (or any node option)
 * is given to the measured CLI only: how the profiles in
 * RESULTS-destinations.md were made.
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
import { BlobServiceClient } from '@azure/storage-blob';
import { KINDS, describeCorpus, ensureCorpus } from './corpus.mjs';
import { startLinkProxy } from './link-proxy.mjs';
import { describeMachine, fmt, HAVE_GNU_TIME, measureQuietly, median, quote, shown } from './measure.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.dirname(BENCH_DIR);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
/** The bars of issue 11. */
const RATIO_BAR = 1.15;
const RSS_BAR_MB = 200;
const BUCKET = 'bench';
const CONTAINER = 'bench';

function usage(message) {
  if (message) process.stderr.write(`bench:destinations: ${message}\n`);
  process.stderr.write(
    'usage: node bench/destinations.mjs [--corpus big|small|quick] [--repeat N] [--format tar.gz|zip|tar.bz2] [--threads N]\n' +
      '                                   [--s3-endpoint URL] [--idle-wait S] [--retry-disturbed N] [--timeout S]\n' +
      '                                   [--out DIR] [--results FILE] [--dist DIR] [--seed N] [--profile N] [--profile-only]\n' +
      '                                   [--only local,s3,azure,sftp,3-2-1,all] [--link-mbps MB/s]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    corpus: 'big',
    repeat: 3,
    format: 'tar.gz',
    threads: undefined,
    s3Endpoint: process.env.S3_BENCH_ENDPOINT,
    idleWait: 20,
    retryDisturbed: 1,
    timeout: 1800,
    seed: 20240101,
    out: path.join(BENCH_DIR, 'out', 'destinations'),
    results: undefined,
    dist: path.join(PROJECT_DIR, 'dist'),
    profile: 0,
    profileOnly: false,
    profileBuffers: [],
    only: undefined,
    linkMbps: undefined,
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
      case '--corpus': o.corpus = value(); break;
      case '--repeat': o.repeat = num(value(), flag); break;
      case '--format': o.format = value(); break;
      case '--threads': o.threads = num(value(), flag); break;
      case '--s3-endpoint': o.s3Endpoint = value(); break;
      case '--idle-wait': o.idleWait = num(value(), flag, 0); break;
      case '--retry-disturbed': o.retryDisturbed = num(value(), flag, 0); break;
      case '--timeout': o.timeout = num(value(), flag); break;
      case '--seed': o.seed = num(value(), flag, 0); break;
      case '--out': o.out = path.resolve(value()); break;
      case '--results': o.results = path.resolve(value()); break;
      case '--dist': o.dist = path.resolve(value()); break;
      case '--profile': o.profile = num(value(), flag, 0); break;
      case '--profile-only': o.profileOnly = true; o.profile ||= 3; break;
      case '--profile-buffers': o.profileBuffers = value().split(',').map((v) => num(v, flag, 1)); break;
      case '--only': o.only = value().split(','); break;
      case '--link-mbps': o.linkMbps = num(value(), flag, 0.1); break;
      case '-h':
      case '--help': usage(); break;
      default: usage(`unknown option ${argv[i]}`);
    }
  }
  if (!KINDS[o.corpus]) usage(`unknown corpus ${o.corpus} (known: ${Object.keys(KINDS).join(', ')})`);
  if (!['tar.gz', 'zip', 'tar.bz2'].includes(o.format)) usage(`unknown format ${o.format}`);
  // A smoke test on another corpus must not overwrite the recorded results.
  o.results ??= o.corpus === 'big' && !o.profileOnly && !o.only && !o.linkMbps ? path.join(BENCH_DIR, 'RESULTS-destinations.md') : path.join(o.out, `RESULTS-${o.corpus}.md`);
  return o;
}

const log = (s) => process.stderr.write(`${s}\n`);

/** Compiles the test suite's server helpers with the project's tsc (once per change). */
async function loadHelpers(outDir) {
  const dir = path.join(outDir, 'helpers');
  const names = ['ceph', 'azurite', 'sshd'];
  const srcs = names.map((n) => path.join(PROJECT_DIR, 'tests', 'helpers', `${n}.ts`));
  const stale = names.some((n, i) => {
    const built = path.join(dir, `${n}.js`);
    return !fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(srcs[i]).mtimeMs;
  });
  if (stale) {
    const tsc = path.join(PROJECT_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, ...srcs, '--outDir', dir, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`compiling ${srcs.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  // azurite.ts loads its guard from beside itself.
  fs.copyFileSync(path.join(PROJECT_DIR, 'tests', 'helpers', 'azurite-guard.mjs'), path.join(dir, 'azurite-guard.mjs'));
  const load = (n) => import(pathToFileURL(path.join(dir, `${n}.js`)).href);
  return { ceph: await load('ceph'), azurite: await load('azurite'), sshd: await load('sshd') };
}

/** user + system (+ reaped children when `children`) CPU seconds of a process; 0 once it is gone. */
function cpuSeconds(pid, children = false) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Our child processes whose command line contains `needle`. */
function childPids(needle) {
  const pids = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Pids of the Ceph daemons, from their pid files. */
function cephPids(conf) {
  const runDir = path.join(path.dirname(conf), 'run');
  return fs
    .readdirSync(runDir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number.parseInt(fs.readFileSync(path.join(runDir, f), 'utf8'), 10))
    .filter((pid) => pid > 0);
}

function git(...args) {
  return spawnSync('git', ['-C', PROJECT_DIR, ...args], { encoding: 'utf8' }).stdout.trim();
}

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const o = parseArgs(process.argv.slice(2));
  const bin = path.join(o.dist, 'bin.js');
  if (!fs.existsSync(bin)) usage(`${bin} is missing: run npm run build first (npm run bench:destinations does)`);
  const started = Date.now();
  const load0 = os.loadavg();
  fs.mkdirSync(o.out, { recursive: true });

  const { root, marker, reused } = ensureCorpus(o.corpus, path.join(BENCH_DIR, 'corpus', o.corpus), { seed: o.seed, log });
  log(`corpus ${o.corpus}: ${reused ? 'reused' : 'generated'}: ${describeCorpus(marker)}`);
  // Read once, untimed: every run starts from the same warm page cache.
  spawnSync('sh', ['-c', 'tar -cf - -C "$1" "$2" | cat > /dev/null', 'sh', path.dirname(root), path.basename(root)]);

  const helpers = await loadHelpers(o.out);
  const servers = [];
  const stopAll = async () => {
    for (const s of servers.reverse()) await s.stop().catch((e) => log(`stopping a server: ${e.message}`));
  };
  try {
    // --- S3 (Ceph) ---
    const keys = { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'testsecret' };
    let s3;
    if (o.s3Endpoint) {
      s3 = { endpoint: o.s3Endpoint.replace(/\/+$/, ''), ...keys, region: process.env.AWS_REGION ?? 'us-east-1', stop: async () => {} };
    } else {
      log('starting Ceph (radosgw, in-memory OSD) ...');
      s3 = await helpers.ceph.startCeph({ log, memstoreBytes: 4 * 1024 ** 3 });
      servers.push(s3);
      await helpers.ceph.warmUp(s3.endpoint, s3);
    }
    // --- Azure (Azurite) ---
    log('starting Azurite ...');
    const azuriteBefore = new Set(childPids('azurite'));
    const azurite = await helpers.azurite.startAzurite({ baseDir: o.out });
    servers.push(azurite);
    const azuritePids = childPids('azurite').filter((p) => !azuriteBefore.has(p));
    // --- SFTP (sshd) ---
    log('starting sshd ...');
    const sshd = await helpers.sshd.startSshd();
    servers.push(sshd);
    const sshdPid = Number.parseInt(fs.readFileSync(path.join(path.dirname(sshd.knownHostsPath), 'pid'), 'utf8'), 10);
    // The helper has no exit hook (Ceph's and Azurite's have): Ctrl-C must not leave sshd behind.
    process.on('exit', () => {
      try {
        process.kill(sshdPid, 'SIGKILL');
      } catch {
        // already stopped
      }
      fs.rmSync(path.dirname(sshd.knownHostsPath), { recursive: true, force: true });
    });

    const cephDaemons = s3.conf ? cephPids(s3.conf) : [];
    /** --link-mbps: the link proxies, counted with the servers (they stand for the network). */
    const linkPids = [];
    const serverCpu = () =>
      linkPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) + cephDaemons.reduce((sum, pid) => sum + cpuSeconds(pid), 0) + azuritePids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) + cpuSeconds(sshdPid, true);

    const s3client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await s3client.send(new CreateBucketCommand({ Bucket: BUCKET })).catch((e) => {
      if (e.name !== 'BucketAlreadyOwnedByYou') throw e;
    });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER);
    await container.createIfNotExists();

    const workDir = path.join(o.out, 'work');
    const localDir = path.join(workDir, 'local');
    const sftpDir = path.join(sshd.root, 'backups');
    const cwd = path.join(o.out, 'cwd');
    const configDir = path.join(o.out, 'configs');
    const logFile = path.join(o.out, 'backup-tool.log');
    fs.mkdirSync(cwd, { recursive: true });
    fs.mkdirSync(configDir, { recursive: true });

    // --link-mbps: every remote destination behind a link of that speed (bench/link-proxy.mjs), the local folder not.
    const via = { s3: s3.endpoint, azure: azurite.endpoint, sftpPort: sshd.port, knownHosts: sshd.knownHostsPath };
    if (o.linkMbps) {
      const link = async (url) => {
        const u = new URL(url);
        const proxy = await startLinkProxy({ targetPort: Number(u.port), bytesPerSecond: o.linkMbps * 1e6 });
        servers.push(proxy);
        linkPids.push(proxy.pid);
        u.port = String(proxy.port);
        return u.href.replace(/\/+$/, '');
      };
      via.s3 = await link(s3.endpoint);
      via.azure = await link(azurite.endpoint);
      via.sftpPort = Number(new URL(await link(`http://127.0.0.1:${sshd.port}`)).port);
      via.knownHosts = await helpers.sshd.knownHostsFor(sshd, via.sftpPort);
      log(`links: s3, azure and sftp each behind ${o.linkMbps} MB/s (upload direction)`);
    }
    const DEST = {
      local: { name: 'local', type: 'local', path: localDir },
      s3: { name: 's3', type: 's3', bucket: BUCKET, endpoint: via.s3, region: s3.region },
      azure: { name: 'azure', type: 'azure', container: CONTAINER, account: azurite.accountName, endpoint: via.azure },
      sftp: { name: 'sftp', type: 'sftp', host: '127.0.0.1', port: via.sftpPort, user: sshd.user, path: sftpDir, identityFile: sshd.privateKeyPath, knownHostsFile: via.knownHosts },
    };
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AZURE_STORAGE_KEY: azurite.accountKey,
    };
    for (const k of ['AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_STORAGE_ACCOUNT']) delete env[k];

    const settingsFor = (id, names, sources = [root]) => {
      const file = path.join(configDir, `${id}.json`);
      fs.writeFileSync(file, `${JSON.stringify({ sources, format: o.format, ...(o.threads ? { threads: o.threads } : {}), name: `bench-${id}`, destinations: names.map((n) => DEST[n]) }, null, 2)}\n`);
      return file;
    };
    // BENCH_CLI_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): node options for the measured CLI only.
    const nodeArgs = (process.env.BENCH_CLI_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const commandFor = (file) => ({ cmd: process.execPath, args: [...nodeArgs, bin, 'run', '--config', file, '--json', '--log-file', logFile], cwd, env });

    const clean = async () => {
      fs.rmSync(workDir, { recursive: true, force: true });
      fs.mkdirSync(localDir, { recursive: true });
      fs.rmSync(sftpDir, { recursive: true, force: true });
      fs.mkdirSync(sftpDir, { recursive: true });
      for (;;) {
        const listed = await s3client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
        for (const obj of listed.Contents ?? []) await s3client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: obj.Key }));
        if (!listed.IsTruncated) break;
      }
      const uploads = await s3client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
      for (const u of uploads.Uploads ?? []) await s3client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: u.Key, UploadId: u.UploadId }));
      // Deleted data is freed by radosgw's garbage collector only hours later: now (the OSD is in memory).
      if (s3.conf) spawnSync('radosgw-admin', ['-c', s3.conf, '-n', 'client.rgw', 'gc', 'process', '--include-all'], { stdio: 'ignore' });
      for await (const blob of container.listBlobsFlat()) await container.deleteBlob(blob.name);
      spawnSync('sync', []);
    };

    // --- Does this build know SFTP destinations? A real run of one small file to the sshd. ---
    await clean();
    const probeData = path.join(o.out, 'probe-data');
    fs.mkdirSync(probeData, { recursive: true });
    fs.writeFileSync(path.join(probeData, 'probe.txt'), 'sftp probe\n');
    const probe = spawnSync(process.execPath, [bin, 'run', '--config', settingsFor('sftp-probe', ['sftp'], [probeData]), '--json', '--log-file', logFile], { cwd, env, encoding: 'utf8', timeout: 120_000 });
    const probeJson = lastJson(probe.stdout);
    const notes = [];
    let haveSftp = probe.status === 0 && probeJson?.ok === true;
    if (!haveSftp) {
      const why = probeJson?.error ? `${probeJson.error.code}: ${probeJson.error.message}` : `exit ${probe.status}: ${(probe.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
      const refused = probe.status === 2 && probeJson?.error?.code === 'CONFIG_INVALID';
      const line = refused ? 'sftp: not available in this build' : `sftp: the probe run failed (${why})`;
      log(line);
      notes.push(`${line}${refused ? ` (the CLI refused \`"type": "sftp"\`: ${why})` : ''}; the sets measure azure in its place (local + s3 + azure).`);
    }
    const singles = haveSftp ? ['local', 's3', 'azure', 'sftp'] : ['local', 's3', 'azure'];
    const RUNS = singles.map((n) => ({ id: n, names: [n] }));
    RUNS.push({ id: '3-2-1', names: haveSftp ? ['local', 's3', 'sftp'] : ['local', 's3', 'azure'], three: true });
    if (haveSftp) RUNS.push({ id: 'all', names: ['local', 's3', 'azure', 'sftp'] });
    else notes.push('"all four" is the 3-2-1 set here (no sftp): not run separately.');
    if (o.only) {
      const unknown = o.only.filter((id) => !RUNS.some((r) => r.id === id));
      if (unknown.length) usage(`--only: unknown row ${unknown.join(', ')} (rows: ${RUNS.map((r) => r.id).join(', ')})`);
      RUNS.splice(0, RUNS.length, ...RUNS.filter((r) => o.only.includes(r.id)));
    }
    for (const r of RUNS) r.command = commandFor(settingsFor(r.id, r.names));

    const samples = new Map(RUNS.map((r) => [r.id, []]));
    const failures = [];
    const timeFile = path.join(o.out, 'time.txt');
    log(`bench:destinations: ${o.corpus} (${describeCorpus(marker)}), ${o.format}${o.threads ? `, threads ${o.threads}` : ''}, ${o.repeat} repeat(s) of ${RUNS.map((r) => r.names.join('+')).join(', ')}`);
    for (let rep = 1; rep <= (o.profileOnly ? 0 : o.repeat); rep++) {
      const order = RUNS.map((_, i) => RUNS[(i + rep - 1) % RUNS.length]);
      for (const r of order) {
        const m = await measureQuietly(r.command, { timeFile, idleWait: o.idleWait, retries: o.retryDisturbed, before: clean, serverCpu, log, label: r.id });
        const json = lastJson(m.stdout);
        const sample = { rep, attempts: m.attempts, wall: m.wall, user: m.user, sys: m.sys, rssKB: m.rssKB, other: m.other, server: m.server, bytes: json?.bytes, ok: m.code === 0 && json?.ok === true, load: os.loadavg()[0] };
        if (sample.ok) {
          const problems = await checkCopies(r.names, json, { s3client, container, localDir, sftpDir });
          if (problems.length) {
            sample.ok = false;
            sample.why = problems.join('; ');
          }
        } else sample.why = json?.error ? `exit ${m.code}: ${json.error.code}: ${json.error.message}` : `exit ${m.code}: ${m.stderr.trim().split('\n').slice(-5).join(' | ')}`;
        if (!sample.ok) {
          failures.push({ id: r.id, rep, command: shown(r.command), why: sample.why });
          log(`  FAILED ${r.id} run ${rep}: ${sample.why}`);
        }
        samples.get(r.id).push(sample);
        log(`  [${rep}/${o.repeat}] ${r.names.join('+').padEnd(20)} ${fmt(m.wall).padStart(7)} s  CPU ${fmt(m.user + m.sys)} s  servers ${fmt(m.server)} s  RSS ${fmt(m.rssKB / 1024, 0)} MB  ${fmt(sample.bytes / 1e6, 1)} MB  other ${fmt(m.other)}  load ${sample.load.toFixed(2)}${sample.ok ? '' : '  FAILED'}`);
      }
    }
    const profile = o.profile ? await runProfile({ o, RUNS, DEST, env, clean, serverCpu, commandFor, settingsFor, localDir, bin, cwd, logFile }) : undefined;
    await clean();
    s3client.destroy();

    const report = o.profileOnly ? { md: profileMarkdown(profile, o), text: profileMarkdown(profile, o) } : render({ o, marker, RUNS, samples, failures, notes, haveSftp, started, load0, s3 });
    if (profile && !o.profileOnly) report.md += `\n${profileMarkdown(profile, o)}`;
    fs.mkdirSync(path.dirname(o.results), { recursive: true });
    fs.writeFileSync(o.results, report.md);
    fs.writeFileSync(path.join(o.out, `samples-${Date.now()}.json`), JSON.stringify({ runs: RUNS.map(({ command, ...r }) => ({ ...r, samples: samples.get(r.id) })), failures, notes }, null, 1));
    process.stdout.write(`${report.text}\n`);
    log(`written: ${o.results}`);
    process.exitCode = failures.length ? 1 : 0;
  } finally {
    await stopAll();
  }
}

/**
 * The fan-out without the archiver (bench/fanout-profile.mjs): one archive
 * made by a local run (untimed), streamed to each single destination and to
 * the 3-2-1 set, `o.profile` times in alternation; per phase and per
 * destination where the time goes.
 */
async function runProfile({ o, RUNS, DEST, env, clean, serverCpu, localDir }) {
  const srcDir = path.join(o.out, 'profile-src');
  fs.rmSync(srcDir, { recursive: true, force: true });
  fs.mkdirSync(srcDir, { recursive: true });
  await clean();
  const made = spawnSync(process.execPath, [path.join(o.dist, 'bin.js'), 'run', '--config', path.join(o.out, 'configs', 'local.json'), '--json'], { cwd: path.join(o.out, 'cwd'), env, encoding: 'utf8' });
  const json = lastJson(made.stdout);
  if (!json?.ok) throw new Error(`the profile's archive: ${made.stdout}${made.stderr}`);
  const file = path.join(srcDir, 'archive.tar.gz');
  fs.renameSync(path.join(localDir, fs.readdirSync(localDir).find((f) => f.endsWith(o.format))), file);
  const spec = (n) => {
    const d = DEST[n];
    if (d.type === 'local') return { name: n, type: 'local', path: d.path };
    if (d.type === 's3') return { name: n, type: 's3', target: { bucket: d.bucket, prefix: '', endpoint: d.endpoint, region: d.region } };
    if (d.type === 'azure') return { name: n, type: 'azure', target: { container: d.container, prefix: '', account: d.account, endpoint: d.endpoint } };
    return undefined;
  };
  const sets = RUNS.filter((r) => r.names.every((n) => spec(n))).map((r) => ({ ...r, buffer: 0 }));
  // The experiment: the multi-destination sets again, each destination fronted by N MiB.
  for (const mib of o.profileBuffers) for (const r of RUNS.filter((x) => x.names.length > 1 && x.names.every((n) => spec(n)))) sets.push({ ...r, id: `${r.id}-buf${mib}`, buffer: mib });
  const results = new Map(sets.map((r) => [r.id, []]));
  for (let rep = 1; rep <= o.profile; rep++) {
    for (const r of sets.map((_, i) => sets[(i + rep - 1) % sets.length])) {
      await clean();
      const server0 = serverCpu();
      const t = performance.now();
      const p = spawnSync(process.execPath, [path.join(BENCH_DIR, 'fanout-profile.mjs'), '--file', file, '--specs', JSON.stringify(r.names.map(spec)), '--dist', o.dist, '--buffer-mib', String(r.buffer)], { cwd: path.join(o.out, 'cwd'), env, encoding: 'utf8' });
      const wallMs = performance.now() - t;
      const out = lastJson(p.stdout);
      if (!out) {
        log(`  profile ${r.id} run ${rep} FAILED: ${p.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      out.wallMs = Math.round(wallMs);
      out.serverCpuMs = Math.round((serverCpu() - server0) * 1000);
      out.load = os.loadavg()[0];
      results.get(r.id).push(out);
      log(`  profile [${rep}/${o.profile}] ${r.names.join('+')}${r.buffer ? ` (${r.buffer} MiB each)` : ''}`.padEnd(40) + ` stream ${out.streamMs} ms (held ${out.destinations.map((d) => `${d.name} ${d.heldMs}`).join(', ')}), verify ${out.verifyMs} ms (${out.destinations.map((d) => `${d.name} ${d.verifyMs}`).join(', ')}), sidecars+publish ${out.publishMs} ms (${out.destinations.map((d) => `${d.name} ${d.publishMs}`).join(', ')}), servers ${out.serverCpuMs} ms CPU, load ${out.load.toFixed(2)}`);
    }
  }
  fs.rmSync(srcDir, { recursive: true, force: true });
  return { sets, results, bytes: json.bytes };
}

function profileMarkdown(profile, o) {
  const lines = ['## Profile: the fan-out without the archiver', ''];
  lines.push(
    `\`bench/fanout-profile.mjs\` (\`--profile ${o.profile}\`): the ${fmt(profile.bytes / 1e6, 1)} MB archive of a local run streamed from a file through HashStream and FanOut into dist/'s stores, then verify one destination after the other and sidecars + publish one after the other (local last), as run-backup.ts and publish.ts do. Medians of ${o.profile} runs in alternation, in seconds. **held**: how long the fan-out waited for that destination (write() false until its 'drain', summed); **servers CPU**: Ceph + Azurite + sshd during the run.`,
    '',
  );
  lines.push('| destinations | stream | held per destination | verify (each) | sidecars + publish (each) | total | servers CPU s | peak RSS MB | load |');
  lines.push('| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of profile.sets) {
    const rs = profile.results.get(r.id);
    if (!rs.length) continue;
    const m = (f) => median(rs.map(f)) / 1000;
    const per = (k) => r.names.map((n) => `${n} ${fmt(median(rs.map((x) => x.destinations.find((d) => d.name === n)[k])) / 1000)}`).join(', ');
    lines.push(`| ${r.names.join(' + ')}${r.buffer ? ` (experiment: each destination's write queue raised to ${r.buffer} MiB)` : ''} | ${fmt(m((x) => x.streamMs))} | ${per('heldMs')} | ${fmt(m((x) => x.verifyMs))} (${per('verifyMs')}) | ${fmt(m((x) => x.publishMs))} (${per('publishMs')}) | ${fmt(m((x) => x.totalMs))} | ${fmt(m((x) => x.serverCpuMs))} | ${fmt(median(rs.map((x) => x.rssMB)), 0)} | ${fmt(median(rs.map((x) => x.load)))} |`);
  }
  return `${lines.join('\n')}\n`;
}

function lastJson(stdout) {
  try {
    return JSON.parse((stdout ?? '').trim().split('\n').pop());
  } catch {
    return undefined;
  }
}

/** Every destination of the run holds the archive, at the size the CLI reported. */
async function checkCopies(names, json, { s3client, container, localDir, sftpDir }) {
  const problems = [];
  const outcomes = new Map((json.destinations ?? []).map((d) => [d.name, d]));
  for (const name of names) {
    if (!outcomes.get(name)?.ok) problems.push(`${name}: not ok in the result`);
  }
  const fileSize = (dir) => {
    const archives = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !/\.(sha256|manifest\.json)$/.test(f)) : [];
    return archives.length === 1 ? fs.statSync(path.join(dir, archives[0])).size : `${archives.length} archives`;
  };
  const checks = {
    local: async () => fileSize(localDir),
    sftp: async () => fileSize(sftpDir),
    s3: async () => {
      const listed = await s3client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      const keys = (listed.Contents ?? []).map((c) => c.Key).filter((k) => !/\.(sha256|manifest\.json)$/.test(k));
      if (keys.length !== 1) return `${keys.length} objects`;
      return (await s3client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: keys[0] }))).ContentLength;
    },
    azure: async () => {
      const blobs = [];
      for await (const b of container.listBlobsFlat()) if (!/\.(sha256|manifest\.json)$/.test(b.name)) blobs.push(b);
      return blobs.length === 1 ? blobs[0].properties.contentLength : `${blobs.length} blobs`;
    },
  };
  for (const name of names) {
    const size = await checks[name]().catch((e) => `error ${e.name ?? e.message}`);
    if (size !== json.bytes) problems.push(`${name}: ${size}${typeof size === 'number' ? ' bytes' : ''}, ${json.bytes} expected`);
  }
  return problems;
}

function render({ o, marker, RUNS, samples, failures, notes, haveSftp, started, load0, s3 }) {
  // A run disturbed by other processes (>= 0.3 cores) counts only when no undisturbed run of that row exists.
  const ok = (id) => {
    const good = samples.get(id).filter((s) => s.ok);
    const quiet = good.filter((s) => s.other < 0.3);
    return quiet.length > 0 ? quiet : good;
  };
  const med = (id, f) => median(ok(id).map(f));
  const wall = (id) => med(id, (s) => s.wall);
  const slowestSingle = (r) => {
    // With --only, a member may not have been run alone: no ratio then.
    if (r.names.some((n) => !samples.has(n))) return { n: '-', wall: NaN };
    const walls = r.names.map((n) => ({ n, wall: wall(n) }));
    return walls.reduce((a, b) => (b.wall > a.wall || !Number.isFinite(a.wall) ? b : a));
  };
  const rows = RUNS.map((r) => {
    const s = samples.get(r.id);
    const walls = ok(r.id).map((x) => x.wall);
    const slow = slowestSingle(r);
    return {
      r,
      label: r.names.join(' + '),
      wall: wall(r.id),
      min: Math.min(...walls),
      max: Math.max(...walls),
      ratio: r.names.length > 1 ? wall(r.id) / slow.wall : 1,
      slowest: slow.n,
      cpu: med(r.id, (x) => x.user + x.sys),
      server: med(r.id, (x) => x.server),
      rss: Math.max(...ok(r.id).map((x) => x.rssKB / 1024)),
      rssMed: med(r.id, (x) => x.rssKB / 1024),
      bytes: med(r.id, (x) => x.bytes),
      other: Math.max(...s.map((x) => x.other)),
      redone: s.reduce((a, x) => a + x.attempts - 1, 0),
      okRuns: `${ok(r.id).length}/${s.length}`,
    };
  });
  const three = rows.find((x) => x.r.three);
  const all = rows.find((x) => x.r.id === 'all');
  const peak = Math.max(...rows.map((x) => x.rss));
  const verdict = [
    ...(three ? [`3 destinations: ${fmt(three.ratio)}x the slowest single (bar ${RATIO_BAR.toFixed(2)}x) - ${three.label} vs ${three.slowest} alone: ${three.ratio <= RATIO_BAR ? 'meets the bar' : 'ABOVE the bar'}`] : []),
    ...(all ? [`4 destinations: ${fmt(all.ratio)}x the slowest single (bar ${RATIO_BAR.toFixed(2)}x) - ${all.label} vs ${all.slowest} alone: ${all.ratio <= RATIO_BAR ? 'meets the bar' : 'ABOVE the bar'}`] : []),
    `peak RSS ${fmt(peak, 0)} MB (bar ${RSS_BAR_MB} MB) - the largest of every run: ${peak < RSS_BAR_MB ? 'meets the bar' : 'ABOVE the bar'}`,
  ];
  const header = '| destinations | wall s (median, min-max) | vs slowest single in the set | CPU s (CLI) | CPU s (servers) | peak RSS MB (max) | archive MB | other load (cores, worst) | runs ok |';
  const table = [header, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'];
  for (const x of rows) {
    table.push(
      `| ${x.label} | ${fmt(x.wall)} (${fmt(x.min)}-${fmt(x.max)}) | ${x.r.names.length > 1 ? `${fmt(x.ratio)}x (${x.slowest})` : '-'} | ${fmt(x.cpu)} | ${fmt(x.server)} | ${fmt(x.rss, 0)} | ${fmt(x.bytes / 1e6, 1)} | ${fmt(x.other)}${x.redone ? ` (${x.redone} redone)` : ''} | ${x.okRuns} |`,
    );
  }
  const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean);
  const commandLine = process.env.npm_lifecycle_event === 'bench:destinations' && process.argv.length === 2
    ? 'npm run bench:destinations   (= npm run build && node bench/destinations.mjs)'
    : `node bench/destinations.mjs ${process.argv.slice(2).map(quote).join(' ')}`.trim();
  const lines = [];
  lines.push('# Several destinations: the fan-out\'s cost', '');
  lines.push('Issue 11: "a run to three destinations takes at most 1.15x the wall time of the slowest single destination on the same data, with peak RSS still under 200 MB".', '');
  lines.push('```', ...verdict, '```', '');
  lines.push(`Generated by \`${commandLine}\` on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; total ${((Date.now() - started) / 60000).toFixed(1)} min.`, '');
  lines.push(`- Machine: ${describeMachine()}. Load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}, at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other helpers' test suites share the machine; see "other load").`);
  lines.push(`- Code: git ${git('rev-parse', '--short', 'HEAD')}${dirty.length ? ` with uncommitted src/ changes (${dirty.map((l) => l.slice(3)).join(', ')})` : ', src/ clean'}; ${path.relative(PROJECT_DIR, o.dist) || 'dist'}/ built from it.`);
  lines.push(`- Corpus \`${o.corpus}\` (bench/corpus.mjs, seed ${marker.seed}): ${marker.description}. Made: ${describeCorpus(marker)}. Format ${o.format}${o.threads ? `, \`threads: ${o.threads}\` (compression on one core, the other left to the destinations' clients and the servers, as when the servers are other machines)` : ', compression on all cores'}.`);
  lines.push(`- Servers on 127.0.0.1, on the same ${os.availableParallelism()} cores as the CLI: S3 = ${o.s3Endpoint ? `the running server at ${s3.endpoint}` : 'a fresh single-node Ceph radosgw (in-memory OSD, tests/helpers/ceph.ts)'}; Azure = Azurite ${azuriteVersion()} (blob service, data on disk, tests/helpers/azurite.ts); SFTP = OpenSSH sshd, internal-sftp (tests/helpers/sshd.ts)${haveSftp ? '' : ' (started, but this build has no SFTP destination)'}.`);
  if (o.linkMbps) lines.push(`- **Links:** S3, Azure and SFTP each reached through a TCP proxy that passes the upload direction at ${o.linkMbps} MB/s (bench/link-proxy.mjs, a process of its own, its CPU counted with the servers'; all connections to one destination share its link), as an off-site bucket or a NAS across the network would; the local folder has no link.`);
  lines.push(`- ${o.repeat} repeat(s) of every row, in alternation (the order rotates each repeat). Before each run (untimed): every destination emptied, radosgw's garbage collector run, \`sync\`; then a wait (up to ${o.idleWait} s) for a quiet machine; a run during which other processes used >= 0.3 cores is redone (up to ${o.retryDisturbed} time(s)). After each run every copy is checked on its server (size = the reported bytes).`);
  lines.push('');
  lines.push(...table, '');
  lines.push(
    '- **vs slowest single in the set**: the median wall time of the set over the largest median wall time of its members run alone (named in brackets). Medians, CPU and ratios use only the runs no other process disturbed (other load < 0.3 cores) when a row has one.',
    '- **CPU s (CLI)**: user + system of the `backup run` process (its compression workers included), under `/usr/bin/time`. **CPU s (servers)**: what Ceph (mon, OSD, radosgw), Azurite and sshd (with its per-connection children) used during the run. They share the 2 cores with the CLI, so a run is roughly bounded by `(CLI CPU + servers CPU) / 2`.',
    '- **peak RSS**: GNU time\'s `%M` of the CLI process (the largest process of the measured tree; the servers are not in it), the largest of the repeats.',
    '- **other load**: CPU other processes (not the CLI, not the servers, not the bench) used during the run, in cores; 0.3 or more means that run\'s timing is disturbed.',
    '',
  );
  if (notes.length) {
    lines.push('## Notes', '');
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Commands', '');
  for (const r of RUNS) lines.push(`- ${r.names.join(' + ')}: \`${shown(r.command)}\``);
  lines.push('', `The settings files are written to ${path.relative(PROJECT_DIR, path.join(o.out, 'configs'))}/ (\`{ "sources": [corpus], "format": "${o.format}", "name": "bench-ID", "destinations": [...] }\`); credentials come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY = Azurite's well-known key), the SFTP key and known_hosts from the sshd helper's folder.`, '');
  lines.push('## Failures', '');
  if (!failures.length) lines.push('None: every run exited 0 and every copy was on its server at the reported size.');
  for (const f of failures) lines.push(`- ${f.id} run ${f.rep}: ${f.why} (\`${f.command}\`)`);
  if (!HAVE_GNU_TIME) lines.push('', '/usr/bin/time is not installed: no CPU or RSS figures.');
  const text = [...table, '', ...verdict, ...notes.map((n) => `note: ${n}`)].join('\n');
  return { md: `${lines.join('\n')}\n`, text };
}

function azuriteVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, 'node_modules', 'azurite', 'package.json'), 'utf8')).version;
  } catch {
    return '';
  }
}

await main();
