#!/usr/bin/env node
/**
 * What the progress bar costs: `backup run` on the same data with the bar
 * (under a pseudo-terminal, `script -qec ... /dev/null`) and without it
 * (same pty with --json, which turns the bar off; and plain pipes with
 * --json), in alternation. See bench/README.md ("Progress bar").
 *
 *   node bench/progress.mjs [--data small,bigfile] [--big-mib 512] [--formats tar.gz]
 *                           [--repeat 5] [--idle-wait 20] [--retry-disturbed 2]
 *                           [--results bench/RESULTS-progress.md]
 *
 * `npm run bench:progress` builds dist/ first, then runs this with the defaults.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeCorpus, ensureCorpus } from './corpus.mjs';
import { describeMachine, ensureRandomFile, fmt, measureQuietly, median, quote, shown } from './measure.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.dirname(BENCH_DIR);
const log = (s) => process.stderr.write(`${s}\n`);

function usage(message) {
  if (message) process.stderr.write(`bench:progress: ${message}\n`);
  process.stderr.write(
    'usage: node bench/progress.mjs [--data small,bigfile] [--big-mib N] [--formats tar.gz,zip,tar.bz2] [--repeat N]\n' +
      '                               [--idle-wait S] [--retry-disturbed N] [--out DIR] [--results FILE] [--bin FILE]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    data: ['small', 'bigfile'],
    bigMiB: 512,
    formats: ['tar.gz'],
    repeat: 5,
    idleWait: 20,
    retryDisturbed: 2,
    seed: 20240101,
    out: path.join(BENCH_DIR, 'out', 'progress'),
    results: path.join(BENCH_DIR, 'RESULTS-progress.md'),
    bin: path.join(PROJECT_DIR, 'dist', 'bin.js'),
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    const list = () => value().split(',').map((s) => s.trim()).filter(Boolean);
    switch (flag) {
      case '--data': o.data = list(); break;
      case '--big-mib': o.bigMiB = Number(value()); break;
      case '--formats': o.formats = list(); break;
      case '--repeat': o.repeat = Number(value()); break;
      case '--idle-wait': o.idleWait = Number(value()); break;
      case '--retry-disturbed': o.retryDisturbed = Number(value()); break;
      case '--seed': o.seed = Number(value()); break;
      case '--out': o.out = path.resolve(value()); break;
      case '--results': o.results = path.resolve(value()); break;
      case '--bin': o.bin = path.resolve(value()); break;
      case '-h':
      case '--help': usage(); break;
      default: usage(`unknown option ${argv[i]}`);
    }
  }
  for (const d of o.data) if (!['small', 'bigfile', 'quick'].includes(d)) usage(`unknown data ${d} (small, bigfile, quick)`);
  if (!(o.repeat >= 1) || !(o.bigMiB >= 1)) usage('--repeat and --big-mib must be positive');
  return o;
}

/** The modes compared; `bar` is the one with the progress bar. */
const MODES = [
  { id: 'bar', label: 'pty, progress bar', pty: true, json: false },
  { id: 'pty-json', label: 'pty, --json (no bar)', pty: true, json: true },
  { id: 'pipe-json', label: 'pipes, --json (no bar)', pty: false, json: true },
];

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(o.bin)) usage(`${o.bin} is missing: run npm run build first (npm run bench:progress does)`);
  if (spawnSync('script', ['--version']).status !== 0) usage('script (util-linux) is needed for the pseudo-terminal');
  fs.mkdirSync(o.out, { recursive: true });
  const work = path.join(o.out, 'work');
  const logFile = path.join(o.out, 'backup-tool.log');
  const timeFile = path.join(o.out, 'time.txt');

  const datasets = o.data.map((d) => {
    if (d === 'bigfile') {
      const file = ensureRandomFile(path.join(BENCH_DIR, 'out', 's3'), o.bigMiB, o.seed, log);
      return { id: d, source: file, describe: `one ${o.bigMiB} MiB file of random bytes (${path.relative(PROJECT_DIR, file)})` };
    }
    const { root, marker } = ensureCorpus(d, path.join(BENCH_DIR, 'corpus', d), { seed: o.seed, log });
    return { id: d, source: root, describe: `corpus \`${d}\` (bench/corpus.mjs): ${describeCorpus(marker)}` };
  });
  // Warm the page cache: every mode reads from memory.
  for (const d of datasets) spawnSync('tar', ['-cf', '/dev/null', d.source]);

  const sections = [];
  for (const data of datasets) {
    for (const format of o.formats) {
      const samples = new Map(MODES.map((m) => [m.id, []]));
      const commands = new Map();
      for (let rep = 1; rep <= o.repeat; rep++) {
        const order = MODES.map((_, i) => MODES[(i + rep - 1) % MODES.length]);
        for (const mode of order) {
          const dest = path.join(work, 'dest');
          const args = [o.bin, 'run', '--source', data.source, '--dest', dest, '--format', format, '--name', 'bench', '--log-file', logFile, ...(mode.json ? ['--json'] : [])];
          const line = [process.execPath, ...args].map(quote).join(' ');
          const command = mode.pty ? { cmd: 'script', args: ['-qec', line, '/dev/null'], cwd: work } : { cmd: process.execPath, args, cwd: work };
          if (!commands.has(mode.id)) commands.set(mode.id, shown(command).replaceAll(process.execPath, 'node'));
          const m = await measureQuietly(command, {
            timeFile,
            idleWait: o.idleWait,
            retries: o.retryDisturbed,
            log,
            label: mode.label,
            before: () => {
              fs.rmSync(work, { recursive: true, force: true });
              fs.mkdirSync(work, { recursive: true });
            },
          });
          // The bar redraws in place: count the frames that reached the terminal.
          const frames = mode.json ? 0 : (m.stdout.match(/ETA/g) ?? []).length;
          const archive = (fs.existsSync(dest) ? fs.readdirSync(dest) : []).find((f) => f.startsWith('bench.') && !f.endsWith('.sha256') && !f.endsWith('.json'));
          const ok = m.code === 0 && archive !== undefined;
          if (!ok) log(`  FAILED ${data.id} ${format} ${mode.label} run ${rep}: exit ${m.code} ${m.stderr.slice(-500)} ${m.stdout.slice(-500)}`);
          samples.get(mode.id).push({ rep, ok, wall: m.wall, user: m.user, sys: m.sys, rssKB: m.rssKB, other: m.other, attempts: m.attempts, frames });
          log(`  ${data.id} ${format} run ${rep} ${mode.label}: ${fmt(m.wall)} s, CPU ${fmt(m.user + m.sys)} s, RSS ${fmt(m.rssKB / 1024, 0)} MB, other load ${fmt(m.other)}${mode.json ? '' : `, ${frames} bar frames`}`);
        }
      }
      sections.push({ data, format, samples, commands });
    }
  }
  const report = render(o, sections);
  fs.mkdirSync(path.dirname(o.results), { recursive: true });
  fs.writeFileSync(o.results, report);
  fs.writeFileSync(path.join(o.out, `samples-${Date.now()}.json`), JSON.stringify(sections.map((s) => ({ data: s.data.id, format: s.format, samples: Object.fromEntries(s.samples) })), null, 1));
  process.stdout.write(report);
  log(`written: ${o.results}`);
}

function render(o, sections) {
  const git = (...a) => spawnSync('git', ['-C', PROJECT_DIR, ...a], { encoding: 'utf8' }).stdout.trim();
  const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean);
  const lines = ['# Progress bar cost', ''];
  lines.push(`Generated by \`node bench/progress.mjs ${process.argv.slice(2).join(' ')}\` on ${new Date().toISOString()}.`, '');
  lines.push(`- Machine: ${describeMachine()}.`);
  lines.push(`- Code: git ${git('rev-parse', '--short', 'HEAD')}${dirty.length ? ` with uncommitted src/ changes (${dirty.map((l) => l.slice(3)).join(', ')})` : ''}; ${path.relative(PROJECT_DIR, o.bin)}.`);
  lines.push(`- ${o.repeat} repeats per mode in alternation (order rotated each repeat), medians; page cache warm; before each run the bench waits (up to ${o.idleWait} s) for a quiet machine and redoes a run that other processes disturbed (>= 0.3 cores, up to ${o.retryDisturbed} times).`);
  lines.push('- Target (issue 4): the bar costs < 2% of wall time, i.e. "bar vs pty --json" below 1.02x. The fair comparison is with the same pseudo-terminal (`script`), which differs only in the bar; "pipes" is how `npm run bench` runs the tool.');
  for (const { data, format, samples, commands } of sections) {
    lines.push('', `## ${data.id}, ${format}`, '', `Data: ${data.describe}.`, '');
    lines.push('| mode | wall s (median, min-max) | wall vs pty --json | CPU s | CPU vs pty --json | peak RSS MB | bar frames drawn | other load (worst) | runs ok |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const med = (id, f) => median(samples.get(id).filter((s) => s.ok).map(f));
    const refWall = med('pty-json', (s) => s.wall);
    const refCpu = med('pty-json', (s) => s.user + s.sys);
    for (const mode of MODES) {
      const s = samples.get(mode.id);
      const walls = s.filter((x) => x.ok).map((x) => x.wall);
      const wall = med(mode.id, (x) => x.wall);
      const cpu = med(mode.id, (x) => x.user + x.sys);
      lines.push(
        `| ${mode.label} | ${fmt(wall)} (${fmt(Math.min(...walls))}-${fmt(Math.max(...walls))}) | ${fmt(wall / refWall, 3)}x | ${fmt(cpu)} | ${fmt(cpu / refCpu, 3)}x | ${fmt(med(mode.id, (x) => x.rssKB / 1024), 0)} | ${mode.json ? '-' : fmt(med(mode.id, (x) => x.frames), 0)} | ${fmt(Math.max(...s.map((x) => x.other)))} | ${s.filter((x) => x.ok).length}/${s.length} |`,
      );
    }
    lines.push('', 'Commands:', '');
    for (const mode of MODES) lines.push(`- ${mode.label}: \`${commands.get(mode.id)}\``);
  }
  return `${lines.join('\n')}\n`;
}

await main();
