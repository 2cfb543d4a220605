#!/usr/bin/env node
/**
 * Compression benchmark: our CLI (`node dist/bin.js run ...`) against the
 * system tools (`tar czf`, `zip -r`, `tar cjf`, `tar -I pigz`, `tar -I lbzip2`)
 * on the same generated corpora. See bench/README.md.
 *
 *   node bench/run.mjs [--corpus small,big] [--repeat 3] [--formats tar.gz,zip,tar.bz2]
 *                      [--tools backup,tar,zip,pigz,lbzip2] [--out bench/out]
 *                      [--results bench/RESULTS.md] [--quick] [--timeout 1800] [--seed N]
 *
 * `npm run bench` builds dist/ first, then runs this with the defaults.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS, describeCorpus, ensureCorpus } from './corpus.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.dirname(BENCH_DIR);
const DEFAULT_BIN = path.join(PROJECT_DIR, 'dist', 'bin.js');
/** The CLI being measured: dist/bin.js, --bin, or a build of --git-ref. */
let BIN = DEFAULT_BIN;
const GNU_TIME = '/usr/bin/time';
const FORMATS = ['tar.gz', 'zip', 'tar.bz2'];
/** The reference each format's ratios are computed against. */
const REFERENCE = { 'tar.gz': 'tar', zip: 'zip', 'tar.bz2': 'tar' };
/** The benchmarks with their own npm script (bench/README.md), named at the end of the report. */
const OTHER_BENCHES = [
  { script: 'bench:s3', results: 'RESULTS-s3.md', what: 'S3 upload throughput against `aws s3 cp` (issue 4), bench/s3.mjs' },
  { script: 'bench:progress', results: 'RESULTS-progress.md', what: 'the cost of the progress bar (issue 4), bench/progress.mjs' },
  { script: 'bench:destinations', results: 'RESULTS-destinations.md', what: 'several destinations in one run: 3 destinations against the slowest single one, peak RSS (issue 11), bench/destinations.mjs' },
];

// ---------------------------------------------------------------------------
// Options

function usage(message) {
  if (message) process.stderr.write(`bench: ${message}\n`);
  process.stderr.write(
    'usage: node bench/run.mjs [--corpus small,big,tiny,huge] [--repeat N] [--formats tar.gz,zip,tar.bz2]\n' +
      '                          [--tools backup,tar,zip,pigz,lbzip2] [--out DIR] [--results FILE]\n' +
      '                          [--quick] [--timeout SECONDS] [--seed N] [--bin dist/bin.js | --git-ref REF]\n' +
      '                          [--idle-wait SECONDS] [--retry-disturbed N]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { corpus: undefined, repeat: undefined, formats: FORMATS, tools: undefined, out: undefined, results: undefined, quick: false, timeout: 1800, seed: undefined, bin: undefined, gitRef: undefined, idleWait: 20, retryDisturbed: 2 };
  const list = (v, name) => {
    if (!v) usage(`${name} needs a value`);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--corpus':
        o.corpus = list(value(), flag);
        break;
      case '--repeat':
        o.repeat = Number(value());
        if (!Number.isInteger(o.repeat) || o.repeat < 1) usage('--repeat must be a positive integer');
        break;
      case '--formats':
        o.formats = list(value(), flag).map((f) => ({ tgz: 'tar.gz', tbz2: 'tar.bz2' })[f] ?? f);
        for (const f of o.formats) if (!FORMATS.includes(f)) usage(`unknown format ${f} (known: ${FORMATS.join(', ')})`);
        break;
      case '--tools':
        o.tools = list(value(), flag);
        break;
      case '--out':
        o.out = value();
        break;
      case '--results':
        o.results = value();
        break;
      case '--timeout':
        o.timeout = Number(value());
        if (!(o.timeout > 0)) usage('--timeout must be a number of seconds');
        break;
      case '--seed':
        o.seed = Number(value());
        if (!Number.isInteger(o.seed)) usage('--seed must be an integer');
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--retry-disturbed':
        o.retryDisturbed = Number(value());
        if (!Number.isInteger(o.retryDisturbed) || o.retryDisturbed < 0) usage('--retry-disturbed must be a whole number');
        break;
      case '--idle-wait':
        o.idleWait = Number(value());
        if (!(o.idleWait >= 0)) usage('--idle-wait must be a number of seconds (0: do not wait)');
        break;
      case '--bin':
        o.bin = path.resolve(value() ?? usage('--bin needs a path'));
        break;
      case '--git-ref':
        o.gitRef = value() ?? usage('--git-ref needs a commit');
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown option ${argv[i]}`);
    }
  }
  o.corpus ??= o.quick ? ['quick'] : ['small', 'big'];
  for (const c of o.corpus) if (!KINDS[c]) usage(`unknown corpus ${c} (known: ${Object.keys(KINDS).join(', ')})`);
  o.repeat ??= o.quick ? 1 : 3;
  if (o.bin && o.gitRef) usage('--bin and --git-ref exclude each other');
  o.out = path.resolve(o.out ?? path.join(BENCH_DIR, 'out'));
  // A smoke test must not overwrite the baseline in bench/RESULTS.md.
  o.results = path.resolve(o.results ?? (o.quick ? path.join(o.out, 'RESULTS-quick.md') : path.join(BENCH_DIR, 'RESULTS.md')));
  return o;
}

// ---------------------------------------------------------------------------
// Tools

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Every tool: for each format it supports, the command archiving `<parent>/<name>` into `out`.
 * `label` is what the table shows; `needs` are programs that must be on PATH.
 */
const TOOLS = [
  {
    id: 'backup',
    ours: true,
    needs: [],
    label: () => 'backup (ours)',
    command: (format, { root, outDir, logFile }) => ({
      cmd: process.execPath,
      args: [BIN, 'run', '--source', root, '--dest', outDir, '--format', format, '--name', 'bench', '--json', '--log-file', logFile],
      // A scratch working folder: no config/settings.json or .env of the project is picked up.
      cwd: path.dirname(outDir),
    }),
    formats: FORMATS,
  },
  {
    id: 'tar',
    needs: ['tar'],
    label: (format) => (format === 'tar.gz' ? 'tar czf' : 'tar cjf'),
    formats: ['tar.gz', 'tar.bz2'],
    needsFor: { 'tar.gz': ['gzip'], 'tar.bz2': ['bzip2'] },
    command: (format, { parent, name, out }) => ({ cmd: 'tar', args: [format === 'tar.gz' ? '-czf' : '-cjf', out, '-C', parent, name] }),
  },
  {
    id: 'zip',
    needs: ['zip'],
    label: () => 'zip -r',
    formats: ['zip'],
    command: (_format, { parent, name, out }) => ({ cmd: 'zip', args: ['-r', '-q', out, name], cwd: parent }),
  },
  {
    id: 'pigz',
    needs: ['tar', 'pigz'],
    label: () => 'tar -I pigz',
    formats: ['tar.gz'],
    command: (_format, { parent, name, out }) => ({ cmd: 'tar', args: ['-I', 'pigz', '-cf', out, '-C', parent, name] }),
  },
  {
    id: 'lbzip2',
    needs: ['tar', 'lbzip2'],
    label: () => 'tar -I lbzip2',
    formats: ['tar.bz2'],
    command: (_format, { parent, name, out }) => ({ cmd: 'tar', args: ['-I', 'lbzip2', '-cf', out, '-C', parent, name] }),
  },
];

function toolsFor(format, filter, notes) {
  const tools = [];
  for (const t of TOOLS) {
    if (!t.formats.includes(format)) continue;
    if (filter && !filter.includes(t.id)) continue;
    const missing = [...t.needs, ...(t.needsFor?.[format] ?? [])].filter((n) => !which(n));
    if (missing.length) {
      notes.add(`${t.label(format)} not run for ${format}: ${missing.join(', ')} not installed`);
      continue;
    }
    tools.push(t);
  }
  return tools;
}

// ---------------------------------------------------------------------------
// Running and measuring one command

function quote(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function shown({ cmd, args, cwd }) {
  const c = cmd === process.execPath ? 'node' : cmd;
  return `${cwd ? `(cd ${quote(cwd)} && ` : ''}${[c, ...args].map(quote).join(' ')}${cwd ? ')' : ''}`;
}

const HAVE_GNU_TIME = fs.existsSync(GNU_TIME);
/** The measured command running now (its own process group), killed with us on Ctrl-C / SIGTERM. */
let currentChild;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Parses bash's `times` output ("0m1.234s 0m0.010s"). */
function parseBashTimes(text) {
  const lines = text.trim().split('\n');
  const child = lines[lines.length - 1].trim().split(/\s+/);
  const secs = (s) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(s);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  return { user: secs(child[0]), sys: secs(child[1]) };
}

/**
 * Runs the command under /usr/bin/time (wall, user, sys, peak RSS of the
 * largest process in the tree); without it, under bash's `times` (no RSS).
 */
function measure({ cmd, args, cwd }, timeFile, timeoutSeconds) {
  fs.rmSync(timeFile, { force: true });
  const wrapped = HAVE_GNU_TIME
    ? { cmd: GNU_TIME, args: ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] }
    : { cmd: 'bash', args: ['-c', 't=$1; shift; "$@"; rc=$?; times > "$t"; exit $rc', 'bash', timeFile, cmd, ...args] };
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const busy0 = machineBusySeconds();
    const self0 = process.cpuUsage();
    const child = spawn(wrapped.cmd, wrapped.args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    currentChild = child;
    child.on('close', () => {
      if (currentChild === child) currentChild = undefined;
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (stdout.length < 1e6) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      if (stderr.length < 1e5) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutSeconds * 1000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${error.message}`, wall: NaN, user: NaN, sys: NaN, rssKB: NaN, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const hrWall = Number(process.hrtime.bigint() - started) / 1e9;
      const busy = machineBusySeconds() - busy0;
      const self = process.cpuUsage(self0);
      const selfSeconds = (self.user + self.system) / 1e6;
      let wall = hrWall;
      let user = NaN;
      let sys = NaN;
      let rssKB = NaN;
      try {
        const text = fs.readFileSync(timeFile, 'utf8');
        if (HAVE_GNU_TIME) {
          // "Command exited with non-zero status N" may come first; the numbers are on the last line.
          const last = text.trim().split('\n').pop().trim().split(/\s+/).map(Number);
          if (last.length === 4 && last.every(Number.isFinite)) [wall, user, sys, rssKB] = last;
        } else ({ user, sys } = parseBashTimes(text));
      } catch {
        // no timing (killed): keep the wall clock
      }
      // CPU used by anything else on the machine meanwhile, in cores (0 = the machine was ours).
      const other = Math.max(0, (busy - selfSeconds - user - sys) / hrWall);
      resolve({ code: code ?? (signal ? 128 : -1), signal, stdout, stderr, wall, hrWall, user, sys, rssKB, other, timedOut });
    });
  });
}

function run(cmd, args, options = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
}

/** Counts the lines a command prints (entry listings), streaming. */
function countLines(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (d) => {
      for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      if (stderr.length < 4000) stderr += d;
    });
    child.on('error', (e) => resolve({ code: -1, lines, stderr: e.message }));
    child.on('close', (code) => resolve({ code, lines, stderr }));
  });
}

function exec(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (out.length < 4000) out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      if (out.length < 4000) out += d;
    });
    child.on('error', (e) => resolve({ code: -1, out: e.message }));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function sha256File(file) {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Checks one archive of ours with the system readers: stream integrity, the
 * entry count against the corpus, and the SHA-256 and size the tool reported.
 */
async function verify(format, file, expectedEntries, json) {
  const problems = [];
  const checks = [];
  if (format === 'tar.gz') {
    checks.push(exec('gzip', ['-t', file]).then((r) => r.code !== 0 && problems.push(`gzip -t exit ${r.code}: ${r.out.trim()}`)));
    checks.push(countLines('tar', ['-tzf', file]).then((r) => listing(r, 'tar -tzf')));
  } else if (format === 'tar.bz2') {
    checks.push(exec('bzip2', ['-t', file]).then((r) => r.code !== 0 && problems.push(`bzip2 -t exit ${r.code}: ${r.out.trim()}`)));
    checks.push(countLines('tar', ['-tjf', file]).then((r) => listing(r, 'tar -tjf')));
  } else {
    checks.push(exec('unzip', ['-tq', file]).then((r) => r.code !== 0 && problems.push(`unzip -tq exit ${r.code}: ${r.out.trim()}`)));
    checks.push(countLines('unzip', ['-Z1', file]).then((r) => listing(r, 'unzip -Z1')));
  }
  function listing(r, what) {
    if (r.code !== 0) problems.push(`${what} exit ${r.code}: ${r.stderr.trim()}`);
    else if (r.lines !== expectedEntries) problems.push(`${what} lists ${r.lines} entries, the corpus has ${expectedEntries}`);
  }
  checks.push(
    sha256File(file).then((sum) => {
      if (json?.sha256 && sum !== json.sha256) problems.push(`SHA-256 ${sum} differs from the reported ${json.sha256}`);
    }),
  );
  await Promise.all(checks);
  const size = fs.statSync(file).size;
  if (json && json.bytes !== size) problems.push(`size ${size} differs from the reported ${json.bytes}`);
  return problems.length ? { ok: false, text: 'FAILED', problems } : { ok: true, text: 'ok', problems };
}

/** The tool's --json result: the last stdout line that parses as an object. */
function parseJsonResult(stdout) {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object') return v;
    } catch {
      // not JSON
    }
  }
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// The code being measured

/**
 * Decides which build of the CLI is measured and returns a description of it.
 * - default: a copy of dist/ taken now (another build of dist/ during the run,
 *   e.g. by `npm test`, cannot change the code under test half-way);
 * - --bin: that file as it is;
 * - --git-ref: a clean `git archive` of that commit's src/, built with the
 *   project's tsc into <out>/build-<sha>/ (the project's node_modules are used).
 */
function prepareBin(o) {
  const git = (...args) => run('git', ['-C', PROJECT_DIR, ...args]);
  if (o.gitRef) {
    const r = git('rev-parse', '--verify', `${o.gitRef}^{commit}`);
    if (r.status !== 0) throw new Error(`--git-ref ${o.gitRef}: ${r.stderr.trim()}`);
    const sha = r.stdout.trim();
    const dir = path.join(o.out, `build-${sha.slice(0, 12)}`);
    BIN = path.join(dir, 'dist', 'bin.js');
    if (!fs.existsSync(path.join(dir, '.built'))) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      const x = run('sh', ['-c', 'git -C "$1" archive "$2" src package.json package-lock.json tsconfig.json tsconfig.build.json | tar -x -C "$3"', 'sh', PROJECT_DIR, sha, dir]);
      if (x.status !== 0) throw new Error(`git archive ${sha}: ${x.stderr.trim()}`);
      // Its own node_modules from its own lockfile: the project's may since have dropped or changed a dependency.
      process.stdout.write(`bench: installing the dependencies of ${sha.slice(0, 12)} into ${dir} (npm ci, from the npm cache when possible) ...\n`);
      const ci = run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
      if (ci.status !== 0) throw new Error(`npm ci for ${o.gitRef} (${sha}) failed:\n${ci.stdout}${ci.stderr}`);
      const tsc = run(path.join(dir, 'node_modules', '.bin', 'tsc'), ['-p', path.join(dir, 'tsconfig.build.json')]);
      if (tsc.status !== 0) throw new Error(`building ${o.gitRef} (${sha}) failed:\n${tsc.stdout}${tsc.stderr}`);
      fs.writeFileSync(path.join(dir, '.built'), `${sha}\n`);
    }
    const subject = git('log', '-1', '--format=%s', sha).stdout?.trim();
    return `git ${o.gitRef} = ${sha.slice(0, 12)} "${subject}" (a clean export of that commit's src/, built with its own package-lock.json dependencies in ${path.relative(PROJECT_DIR, dir)}/)`;
  }
  if (o.bin) {
    BIN = o.bin;
    if (!fs.existsSync(BIN)) throw new Error(`--bin ${BIN}: not found`);
    return `${BIN} (modified ${fs.statSync(BIN).mtime.toISOString()})`;
  }
  if (!fs.existsSync(DEFAULT_BIN)) throw new Error(`${DEFAULT_BIN} not found: run "npm run build" first (npm run bench does)`);
  const head = git('rev-parse', '--short=12', 'HEAD').stdout?.trim();
  const dirty = (git('status', '--short', '--', 'src').stdout ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const built = fs.statSync(DEFAULT_BIN).mtime.toISOString();
  const snapshot = path.join(o.out, 'snapshot');
  fs.rmSync(snapshot, { recursive: true, force: true });
  fs.mkdirSync(snapshot, { recursive: true });
  fs.cpSync(path.join(PROJECT_DIR, 'dist'), path.join(snapshot, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(PROJECT_DIR, 'package.json'), path.join(snapshot, 'package.json'));
  BIN = path.join(snapshot, 'dist', 'bin.js');
  return (
    `the working tree's dist/ (built ${built}; copied to ${path.relative(PROJECT_DIR, snapshot)}/ at the start) on git ${head || '?'}` +
    (dirty.length ? ` with uncommitted changes in src/ (${dirty.length} files: ${dirty.map((l) => l.split(/\s+/).pop()).join(', ')})` : ', src/ clean')
  );
}

// ---------------------------------------------------------------------------
// Machine and versions

function firstLine(cmd, args) {
  if (!which(cmd)) return 'not installed';
  const r = run(cmd, args);
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return text[0] ?? '?';
}

function machineInfo(corpusDir, code) {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? '?';
  const mhz = /cpu MHz\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim();
  const memKB = Number(/MemTotal:\s*(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const df = run('df', ['-T', corpusDir]).stdout?.trim().split('\n').pop()?.split(/\s+/);
  const nproc = run('nproc', []).stdout?.trim() ?? String(os.availableParallelism());
  const zipVersion = (run('zip', ['-v']).stdout ?? '').split('\n').find((l) => /This is Zip/.test(l))?.trim() ?? firstLine('zip', ['-v']);
  return {
    nproc,
    cpu: `${model}${mhz ? ` (${Math.round(Number(mhz))} MHz)` : ''}`,
    memory: `${(memKB / 1024 / 1024).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}${fs.existsSync('/etc/debian_version') ? `, Debian ${fs.readFileSync('/etc/debian_version', 'utf8').trim()}` : ''}`,
    disk: df ? `${df[0]} (${df[1]})` : '?',
    node: process.version,
    code,
    versions: {
      tar: firstLine('tar', ['--version']),
      gzip: firstLine('gzip', ['--version']),
      zip: zipVersion,
      unzip: firstLine('unzip', ['-v']),
      bzip2: firstLine('bzip2', ['--help']).replace(/^bzip2, a block-sorting file compressor\.\s*/, 'bzip2 '),
      pigz: firstLine('pigz', ['--version']),
      lbzip2: firstLine('lbzip2', ['--version']),
      time: HAVE_GNU_TIME ? `GNU time (${GNU_TIME})` : 'bash times (GNU time not installed: no peak RSS)',
    },
  };
}

// ---------------------------------------------------------------------------
// Statistics and tables

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function summarize(samples) {
  const ok = samples.filter((s) => s.ok);
  return {
    runs: samples.length,
    okRuns: ok.length,
    wall: median(ok.map((s) => s.wall)),
    wallMin: Math.min(...ok.map((s) => s.wall)),
    wallMax: Math.max(...ok.map((s) => s.wall)),
    cpu: median(ok.map((s) => s.user + s.sys)),
    rssMB: median(ok.map((s) => s.rssKB / 1024)),
    size: median(ok.map((s) => s.size)),
    otherMax: Math.max(0, ...samples.map((s) => s.other).filter(Number.isFinite)),
    retried: samples.reduce((n, s) => n + (s.attempts ?? 1) - 1, 0),
  };
}

const fmt = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

function tableRows(rows) {
  return rows.map((r) => {
    const s = r.stats;
    const ref = r.ref;
    const failed = s.okRuns < s.runs;
    return [
      r.label,
      r.format,
      s.okRuns ? `${fmt(s.wall)}${s.okRuns > 1 ? ` (${fmt(s.wallMin)}-${fmt(s.wallMax)})` : ''}` : 'n/a',
      ref ? ratio(s.wall, ref.wall) : 'n/a',
      fmt(s.cpu),
      ref ? ratio(s.cpu, ref.cpu) : 'n/a',
      fmt(s.rssMB, 0),
      fmt(s.size / 1e6, 1),
      ref ? ratio(s.size, ref.size) : 'n/a',
      fmt(s.otherMax),
      r.ours ? (r.verify ? r.verify.text : failed ? 'FAILED' : 'not checked') : '-',
      [
        failed ? `${s.runs - s.okRuns}/${s.runs} runs FAILED` : '',
        s.otherMax >= DISTURBED ? 'disturbed (other load)' : '',
        s.retried ? `${s.retried} disturbed run(s) redone` : '',
      ].filter(Boolean).join('; '),
    ];
  });
}

const HEADERS = ['tool', 'format', 'wall s (min-max)', 'wall vs ref', 'CPU s', 'CPU vs ref', 'peak RSS MB', 'output MB', 'size vs ref', 'other load', 'check', ''];

function textTable(rows) {
  let cells = [HEADERS, ...tableRows(rows)];
  if (cells.slice(1).every((c) => !c[c.length - 1])) cells = cells.map((c) => c.slice(0, -1));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((c) => String(c[i]).length)));
  return cells.map((c, n) => c.map((v, i) => (i < 2 ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join('  ').trimEnd() + (n === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n');
}

function markdownTable(rows) {
  const head = HEADERS.slice(0, -1).concat('notes');
  const align = head.map((_, i) => (i < 2 ? '---' : i === head.length - 1 || i === head.length - 2 ? '---' : '---:'));
  return [head, align, ...tableRows(rows)].map((c) => `| ${c.join(' | ')} |`).join('\n');
}

// ---------------------------------------------------------------------------

/** Other processes using this many cores during a run make it "disturbed". */
const DISTURBED = 0.3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (up to `maxSeconds`) for a half second in which other processes use
 * less than a quarter of a core, so a run does not start in the middle of
 * someone else's burst. Returns the seconds waited.
 */
async function waitForIdle(maxSeconds) {
  const start = Date.now();
  while ((Date.now() - start) / 1000 < maxSeconds) {
    const b0 = machineBusySeconds();
    const s0 = process.cpuUsage();
    await sleep(500);
    const self = process.cpuUsage(s0);
    const other = (machineBusySeconds() - b0 - (self.user + self.system) / 1e6) / 0.5;
    if (!(other >= 0.25)) return (Date.now() - start) / 1000;
  }
  return (Date.now() - start) / 1000;
}

/**
 * One run per output folder: two runners sharing bench/out/work would delete
 * each other's archives (and disturb each other's timings anyway).
 */
function takeLock(lockFile) {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      const release = () => {
        try {
          if (fs.readFileSync(lockFile, 'utf8').trim() === String(process.pid)) fs.rmSync(lockFile);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
        process.on(signal, () => {
          if (currentChild?.pid) {
            try {
              process.kill(-currentChild.pid, 'SIGKILL');
            } catch {
              // gone
            }
          }
          process.stderr.write(`bench: ${signal}: stopped\n`);
          process.exit(signal === 'SIGINT' ? 130 : 143);
        });
      }
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const pid = Number(fs.readFileSync(lockFile, 'utf8').trim());
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid > 0;
      } catch (e) {
        alive = e.code === 'EPERM';
      }
      if (alive) {
        process.stderr.write(`bench: another benchmark (pid ${pid}) is using ${path.dirname(lockFile)}; wait for it (two runs would disturb each other's timings) or use another --out\n`);
        process.exit(2);
      }
      fs.rmSync(lockFile, { force: true }); // left by a run that was killed
    }
  }
}

function syncDisk() {
  spawnSync('sync', []);
}

function emptyDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
}

/** Reads the corpus once (untimed) so every tool starts from the same warm page cache. */
function warmUp(parent, name) {
  run('sh', ['-c', 'tar -cf - -C "$1" "$2" | cat > /dev/null', 'sh', parent, name]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const corpusBase = path.join(BENCH_DIR, 'corpus');
  const notes = new Set();
  const failures = [];
  const log = (line) => process.stdout.write(`${line}\n`);

  if (!HAVE_GNU_TIME) {
    const msg = `${GNU_TIME} not found (Debian: apt-get install time): CPU from bash's \`times\`, no peak RSS`;
    notes.add(msg);
    log(`warning: ${msg}`);
  }
  const workDir = path.join(o.out, 'work');
  const outDir = path.join(workDir, 'dest');
  const timeFile = path.join(o.out, 'time.txt');
  const logFile = path.join(o.out, 'backup-tool.log');
  const commandLine = process.env.npm_lifecycle_event === 'bench' && process.argv.length === 2
    ? 'npm run bench   (= npm run build && node bench/run.mjs)'
    : `node bench/run.mjs ${process.argv.slice(2).map(quote).join(' ')}`.trim();
  fs.mkdirSync(o.out, { recursive: true });
  takeLock(path.join(o.out, '.bench.lock'));
  let code;
  try {
    code = prepareBin(o);
  } catch (error) {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(2);
  }
  const machine = machineInfo(BENCH_DIR, code);
  log(`measuring: ${code}`);
  const load0 = os.loadavg();
  log(`bench: ${o.corpus.join(', ')} x ${o.formats.join(', ')}, ${o.repeat} repeat(s); ${machine.nproc} CPUs, ${machine.cpu}, load ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  const b0 = machineBusySeconds();
  await sleep(1000);
  const busyNow = machineBusySeconds() - b0;
  if (busyNow >= DISTURBED) log(`warning: other processes are using ${busyNow.toFixed(2)} cores right now; runs will wait for quiet moments (--idle-wait) and disturbed runs are redone (--retry-disturbed)`);

  const sections = [];
  for (const kind of o.corpus) {
    const corpusStarted = Date.now();
    const { root, marker, reused, seconds } = ensureCorpus(kind, path.join(corpusBase, kind), { seed: o.seed, log });
    log(`corpus ${kind}: ${reused ? 'reused' : `generated in ${seconds.toFixed(1)} s`}: ${root}: ${describeCorpus(marker)}`);
    const parent = path.dirname(root);
    const name = path.basename(root);
    warmUp(parent, name);
    syncDisk();
    const rows = [];
    const commands = [];
    for (const format of o.formats) {
      const tools = toolsFor(format, o.tools, notes);
      const samples = new Map(tools.map((t) => [t.id, []]));
      const verifications = new Map();
      for (let rep = 1; rep <= o.repeat; rep++) {
        for (const tool of tools) {
          emptyDir(workDir);
          fs.mkdirSync(outDir);
          syncDisk();
          const ext = format;
          const out = path.join(outDir, `bench.${ext}`);
          const command = tool.command(format, { root, parent, name, out, outDir, logFile });
          if (rep === 1) commands.push(`${tool.label(format)} (${format}): ${shown(command)}`);
          let m;
          let attempts = 0;
          for (;;) {
            attempts++;
            if (o.idleWait > 0) {
              const waited = await waitForIdle(o.idleWait);
              if (waited >= o.idleWait) log(`  (the machine stayed busy for ${o.idleWait} s; running anyway)`);
              else if (waited > 2) log(`  (waited ${waited.toFixed(0)} s for the machine to be idle)`);
            }
            m = await measure(command, timeFile, o.timeout);
            // A run that another process disturbed is done again (its output first removed).
            if (m.code !== 0 || m.timedOut || !(m.other >= DISTURBED) || attempts > o.retryDisturbed) break;
            log(`  (${tool.label(format)}: other processes used ${fmt(m.other)} cores during the run (${fmt(m.wall)} s); running it again)`);
            emptyDir(workDir);
            fs.mkdirSync(outDir);
            syncDisk();
          }
          const sample = { rep, attempts, wall: m.wall, user: m.user, sys: m.sys, rssKB: m.rssKB, other: m.other, code: m.code, ok: m.code === 0 && !m.timedOut };
          let json;
          let archive = tool.ours ? undefined : out;
          if (tool.ours) {
            json = parseJsonResult(m.stdout);
            if (json?.archive) archive = path.resolve(command.cwd, json.archive);
            if (!json?.ok) sample.ok = false;
          }
          try {
            sample.size = fs.statSync(archive).size;
          } catch {
            sample.size = NaN;
            sample.ok = false;
          }
          if (!sample.ok) {
            const why = m.timedOut
              ? `timed out after ${o.timeout} s`
              : `exit ${m.code}${m.signal ? ` (${m.signal})` : ''}${json?.error ? `: ${json.error.code}: ${json.error.message}` : ''}${m.stderr.trim() ? `; stderr: ${m.stderr.trim().split('\n').slice(-5).join(' | ')}` : ''}`;
            failures.push({ corpus: kind, format, tool: tool.label(format), rep, command: shown(command), why });
            log(`  FAILED ${kind} ${format} ${tool.label(format)} run ${rep}: ${why}`);
          }
          // Our tool's output is checked once, with the system readers, before it is removed.
          if (tool.ours && !verifications.has(format) && sample.ok) {
            const v = await verify(format, archive, marker.stats.entries, json);
            verifications.set(format, v);
            if (!v.ok) {
              failures.push({ corpus: kind, format, tool: tool.label(format), rep, command: shown(command), why: v.problems.join('; ') });
              log(`  VERIFY FAILED ${kind} ${format}: ${v.problems.join('; ')}`);
            }
          }
          samples.get(tool.id).push(sample);
          log(
            `  [${kind} ${format} ${rep}/${o.repeat}] ${tool.label(format).padEnd(14)} ${fmt(sample.wall).padStart(7)} s wall  ${fmt(sample.user + sample.sys).padStart(7)} s CPU  ${fmt(sample.rssKB / 1024, 0).padStart(5)} MB RSS  ${fmt(sample.size / 1e6, 1).padStart(8)} MB  other ${fmt(sample.other)}` +
              (tool.ours && rep === 1 && verifications.has(format) ? `  check ${verifications.get(format).text}` : '') +
              (sample.ok ? '' : '  FAILED'),
          );
          emptyDir(workDir);
          syncDisk();
        }
      }
      const refTool = REFERENCE[format];
      const refSamples = samples.get(refTool);
      const ref = refSamples ? summarize(refSamples) : undefined;
      if (!ref) notes.add(`no reference (${refTool}) run for ${format}: ratios are n/a`);
      for (const tool of tools) {
        const stats = summarize(samples.get(tool.id));
        const row = { label: tool.label(format), format, ours: !!tool.ours, stats, ref, samples: samples.get(tool.id) };
        if (tool.ours) row.verify = verifications.get(format) ?? (stats.okRuns ? undefined : { ok: false, text: 'FAILED', problems: ['no successful run'] });
        if (tool.ours && row.verify && !row.verify.ok && !failures.some((f) => f.corpus === kind && f.format === format)) {
          failures.push({ corpus: kind, format, tool: tool.label(format), rep: 0, command: '', why: row.verify.problems.join('; ') });
        }
        rows.push(row);
      }
    }
    const section = { kind, marker, rows, commands, seconds: (Date.now() - corpusStarted) / 1000, load: os.loadavg() };
    sections.push(section);
    log(`\n${kind}: ${describeCorpus(marker)} (${((Date.now() - corpusStarted) / 60000).toFixed(1)} min)\n${textTable(rows)}\n`);
  }

  const totalSeconds = (Date.now() - started) / 1000;
  const md = renderMarkdown({ o, machine, sections, notes, failures, commandLine, totalSeconds, load0 });
  fs.mkdirSync(path.dirname(o.results), { recursive: true });
  fs.writeFileSync(o.results, md);
  const raw = path.join(o.out, `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(raw, JSON.stringify({ machine, commandLine, options: o, sections: sections.map((s) => ({ ...s, rows: s.rows.map(({ ref, ...r }) => r) })), failures, totalSeconds }, null, 2));
  log(`total ${(totalSeconds / 60).toFixed(1)} min; results: ${o.results}; raw samples: ${raw}`);
  log(`not run here (their own npm scripts, see bench/README.md): ${OTHER_BENCHES.map((b) => `npm run ${b.script}`).join(', ')}`);
  for (const n of notes) log(`note: ${n}`);
  if (failures.length) {
    log(`\n${failures.length} failure(s):`);
    for (const f of failures) log(`- ${f.corpus} ${f.format} ${f.tool}${f.rep ? ` run ${f.rep}` : ''}: ${f.why}${f.command ? `\n  command: ${f.command}` : ''}`);
    process.exitCode = 1;
  }
}

function renderMarkdown({ o, machine, sections, notes, failures, commandLine, totalSeconds, load0 }) {
  const v = machine.versions;
  const lines = [];
  lines.push('# Compression benchmark results', '');
  lines.push(`Generated by \`bench/run.mjs\` on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; total run time ${(totalSeconds / 60).toFixed(1)} min.`, '');
  lines.push(`Command: \`${commandLine}\``, '');
  lines.push(`Repeats: ${o.repeat} per tool and format, run in alternation (A B A B ...), medians shown.`, '');
  lines.push('## Machine', '');
  lines.push(`- CPUs (nproc): ${machine.nproc}; CPU: ${machine.cpu}`);
  lines.push(`- Memory: ${machine.memory}; OS: ${machine.os}; disk: ${machine.disk}`);
  lines.push(`- Load average at start: ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  lines.push(`- Node ${machine.node}; code measured: ${machine.code}`);
  lines.push(`- ${v.tar}; ${v.gzip}; ${v.zip}; ${v.unzip}; ${v.bzip2}; ${v.pigz}; ${v.lbzip2}; timing: ${v.time}`);
  lines.push('');
  lines.push('## How to read this', '');
  lines.push(
    '- **vs ref** columns are ratios to the reference tool of the same format on the same corpus: `tar czf` for tar.gz, `zip -r` for zip, `tar cjf` for tar.bz2. Below 1.00x is faster (or smaller) than the reference.',
    '- **wall** is elapsed seconds (median, with the fastest and slowest run); **CPU** is user + system seconds of the whole process tree (compressor children included); **peak RSS** is the largest single process in the tree (GNU time `%M`), not a sum.',
    "- Our tool's time includes what every backup does after compressing: fsync of the archive, reading it back to check its SHA-256, and writing the `.sha256` and manifest files. The system tools only write the archive (no fsync).",
    '- **other load** is the CPU that other processes used during the run, in cores (the worst of the repeats): the machine\'s busy time from /proc/stat minus the measured tool and the runner. Near 0 means the run had the machine to itself; on 2 cores, 0.3 or more means the timings of that row are disturbed.',
    '- Before each run the runner waits (up to `--idle-wait`, default 20 s) for half a second in which other processes use less than a quarter of a core; a run during which they used 0.3 cores or more is done again (up to `--retry-disturbed`, default 2, more times), and the last attempt is kept.',
    '- The corpus is read once before timing, so every run reads from a warm page cache; each output is deleted and `sync` run (untimed) before the next run.',
    "- **check**: our archive from the first run, tested with the system reader (`gzip -t` / `bzip2 -t` / `unzip -tq`), its entry listing (`tar -t` / `unzip -Z1`) counted against the corpus, and its SHA-256 and size compared with the tool's JSON result.",
  );
  lines.push('');
  for (const s of sections) {
    lines.push(`## Corpus \`${s.kind}\``, '');
    lines.push(`${s.marker.description}.`, '');
    const ref = s.rows.find((r) => r.label === 'tar czf' && r.stats.okRuns);
    const sourceBytes = s.marker.stats.bytes;
    lines.push(
      `Made: ${describeCorpus(s.marker)} (seed ${s.marker.seed}, generator v${s.marker.version}/${s.marker.code}).` +
        (ref ? ` \`tar czf\` compresses it ${(sourceBytes / ref.stats.size).toFixed(2)}:1.` : ''),
      '',
    );
    lines.push(markdownTable(s.rows), '');
    lines.push(`Section time: ${(s.seconds / 60).toFixed(1)} min (including corpus generation or reuse and checks).`, '');
    lines.push('<details><summary>Exact commands (first run)</summary>', '');
    for (const c of s.commands) lines.push(`- \`${c}\``);
    lines.push('', '</details>', '');
  }
  if (notes.size) {
    lines.push('## Notes', '');
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Other benchmarks', '');
  lines.push('Separate commands (servers of their own, minutes each), not run by `npm run bench`; each writes its own report:', '');
  for (const b of OTHER_BENCHES) {
    const exists = fs.existsSync(path.join(BENCH_DIR, b.results));
    lines.push(`- \`npm run ${b.script}\`: ${b.what}. ${exists ? `Latest results: [${b.results}](${b.results}).` : 'Not run yet.'}`);
  }
  lines.push('');
  lines.push('## Failures', '');
  if (!failures.length) lines.push('None: every run exited 0 and every archive of ours passed its check.');
  for (const f of failures) lines.push(`- ${f.corpus} ${f.format} ${f.tool}${f.rep ? ` run ${f.rep}` : ''}: ${f.why}${f.command ? `<br>command: \`${f.command}\`` : ''}`);
  lines.push('');
  return lines.join('\n');
}

main().catch((error) => {
  process.stderr.write(`bench: ${error?.stack ?? error}\n`);
  process.exit(1);
});
