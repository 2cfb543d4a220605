/**
 * `backup schedule install | remove | list` without the printing: which
 * backend, where the units go, what was written, which commands ran.
 *
 * Injectable for tests and unusual machines (environment variables, on
 * purpose not in the README):
 * - BACKUP_SYSTEMD_DIR: the unit folder, instead of /etc/systemd/system
 *   (or ~/.config/systemd/user with --user). `list` then scans only it.
 * - BACKUP_SYSTEMCTL: the systemctl program. When it is not set and systemd
 *   is not running (no /run/systemd/system), install/remove with --systemd
 *   write or delete the units and hand back the systemctl commands to run,
 *   instead of failing.
 * - BACKUP_CRONTAB: the crontab program (default `crontab` on PATH).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BackupError, UsageError } from '../errors.js';
import { cronBlock, findBlocks, replaceBlock } from './crontab.js';
import { exitOf, programFailed, readCrontab, writeCrontab } from './crontab-io.js';
import { installName, parseMarker, selfCommand, type InstallTarget, type InstalledMarker } from './install-target.js';
import { systemdUnits } from './systemd-units.js';

export type Backend = 'systemd' | 'cron';

export interface MachineEnv {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Whether systemd runs here (/run/systemd/system exists); injectable for tests. */
  systemdRunning?: boolean;
}

export interface BackendChoice {
  systemd?: boolean;
  cron?: boolean;
  user?: boolean;
}

const systemdIsRunning = (m: MachineEnv): boolean => m.systemdRunning ?? existsSync('/run/systemd/system');

/** A program on PATH, or undefined. */
export function onPath(program: string, env: NodeJS.ProcessEnv): string | undefined {
  if (program.includes('/')) return existsSync(program) ? program : undefined;
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, program);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const crontabProgram = (m: MachineEnv): string => m.env.BACKUP_CRONTAB || 'crontab';

/** --systemd / --cron, else systemd when it runs, else cron when `crontab` is there, else a usage error. */
export function chooseBackend(choice: BackendChoice, m: MachineEnv): Backend {
  if (choice.systemd && choice.cron) throw new UsageError('give --systemd or --cron, not both');
  if (choice.systemd) return 'systemd';
  if (choice.cron) return 'cron';
  if (systemdIsRunning(m)) return 'systemd';
  if (onPath(crontabProgram(m), m.env)) return 'cron';
  throw new UsageError('neither systemd nor cron runs on this machine (no /run/systemd/system, no `crontab`): run the job with `backup daemon --config FILE` (in a container: as its command)');
}

/** Where the units go. */
export function unitDir(m: MachineEnv, user: boolean): string {
  if (m.env.BACKUP_SYSTEMD_DIR) return path.resolve(m.env.BACKUP_SYSTEMD_DIR);
  return user ? path.join(m.home, '.config', 'systemd', 'user') : '/etc/systemd/system';
}

export interface WrittenFile {
  path: string;
  text: string;
  /** Already there with this content. */
  unchanged: boolean;
}

export interface InstallResult {
  backend: Backend;
  name: string;
  files: WrittenFile[];
  /** Units of this settings file under an older name (the job was renamed), removed. */
  replaced: string[];
  /** The crontab block written (cron). */
  crontabBlock?: string;
  /** Commands run (systemctl ...). */
  ran: string[];
  /** Commands to run by hand (systemd not running here). */
  toRun: string[];
}

export interface RemoveResult {
  backend: Backend;
  /** Files deleted (systemd) or the crontab block removed (cron). */
  removedFiles: string[];
  removedBlock?: string;
  ran: string[];
  toRun: string[];
  /** Where it looked (for "nothing installed"). */
  lookedIn: string;
}

function systemctlArgs(user: boolean, args: string[]): string[] {
  return [...(user ? ['--user'] : []), ...args];
}

function shellWords(program: string, args: string[]): string {
  return [program, ...args].map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs the systemctl commands, or (systemd not running, no BACKUP_SYSTEMCTL) returns them to be run by hand. */
async function systemctl(m: MachineEnv, user: boolean, commands: string[][]): Promise<{ ran: string[]; toRun: string[] }> {
  const program = m.env.BACKUP_SYSTEMCTL || 'systemctl';
  const lines = commands.map((c) => shellWords('systemctl', systemctlArgs(user, c)));
  if (!m.env.BACKUP_SYSTEMCTL && !systemdIsRunning(m)) return { ran: [], toRun: lines };
  const ran: string[] = [];
  for (const [i, command] of commands.entries()) {
    await new Promise<void>((resolve, reject) => {
      execFile(program, systemctlArgs(user, command), { encoding: 'utf8' }, (error, _stdout, stderr) => {
        if (error) reject(new BackupError(programFailed(`\`${lines[i]}\` failed`, exitOf(error), stderr), { code: 'SCHEDULE_FAILED', cause: error }));
        else resolve();
      });
    });
    ran.push(lines[i]!);
  }
  return { ran, toRun: [] };
}

export interface InstalledUnit {
  /** NAME (without .service). */
  name: string;
  dir: string;
  marker: InstalledMarker;
  /** The node and dist/bin.js its ExecStart= calls (undefined when it cannot be read). */
  programs: Programs | undefined;
}

/** The two absolute paths an installed job calls: node and dist/bin.js. */
export interface Programs {
  node: string;
  bin: string;
}

/** Folders that vanish with a node version (a version manager's) or a cache clean (npx). */
const VERSION_MANAGERS: Array<[string, string]> = [
  ['/.nvm/', 'nvm'],
  ['/.fnm/', 'fnm'],
  ['/.volta/', 'Volta'],
  ['/.asdf/', 'asdf'],
];

/**
 * Warnings for an install whose programs may disappear: dist/bin.js in
 * npx's cache (cleaned by `npm cache clean` or replaced by another version),
 * node inside a version manager's folder (gone when that version is
 * uninstalled or upgraded). The timer would then fail every night.
 */
export function vanishingPrograms(programs: Programs): string[] {
  const warnings: string[] = [];
  if (programs.bin.includes('/_npx/')) {
    warnings.push(
      `the schedule calls ${programs.bin}, in npx's cache, which npm may clean or replace (npm cache clean, a newer version): the scheduled runs would then fail. Install the tool in the project (\`npm install backup-automation\` in the project folder, then \`npx backup schedule install\` from there, which uses node_modules/.bin) or globally (\`npm install -g backup-automation\`), and install the schedule again.`,
    );
  }
  const manager = VERSION_MANAGERS.find(([folder]) => programs.node.includes(folder));
  if (manager) {
    warnings.push(
      `the schedule calls node at ${programs.node}, managed by ${manager[1]}: upgrading or removing that node version removes it and the scheduled runs would then fail. Run the install with a system node (e.g. \`/usr/bin/node node_modules/backup-automation/dist/bin.js schedule install\`), or install the schedule again after each node upgrade.`,
    );
  }
  return warnings;
}

/** systemd.syntax(7) double-quoted words of an ExecStart= value, unescaped (as quoteExecArg writes them). */
function execStartWords(value: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const raw = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
    words.push(raw.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

/** The programs of a service file: the first two words of ExecStart=. */
export function unitPrograms(text: string): Programs | undefined {
  const line = text.split('\n').find((l) => l.startsWith('ExecStart='));
  if (!line) return undefined;
  const [node, bin] = execStartWords(line.slice('ExecStart='.length));
  return node && bin ? { node, bin } : undefined;
}

/** Shell words (bare, or '...' with '\'' inside, as shellQuote writes them) of a crontab command. */
function shellWordsOf(command: string): string[] {
  const words: string[] = [];
  const re = /(?:'[^']*'|\\.|[^\s'\\])+/g;
  for (const m of command.matchAll(re)) words.push(m[0].replace(/'([^']*)'|\\(.)/g, (_all, quoted: string | undefined, escaped: string | undefined) => quoted ?? escaped ?? ''));
  return words;
}

/** The programs of a crontab block: the two words after `nice -n 10 [ionice -c3]` on its run line. */
export function cronPrograms(block: string): Programs | undefined {
  const line = block.split('\n').find((l) => / run --config /.test(l.replace(/'/g, '')) && !l.startsWith('#'));
  if (!line) return undefined;
  const words = shellWordsOf(line.replace(/\\%/g, '%'));
  let i = words.indexOf('nice');
  if (i < 0) return undefined;
  i += 3;
  if (words[i] === 'ionice') i += 2;
  const [node, bin] = [words[i], words[i + 1]];
  return node && bin ? { node, bin } : undefined;
}

/** "broken: /path/to/node is missing" for each program of an installed job that is gone. */
export function missingPrograms(programs: Programs | undefined): string[] {
  if (!programs) return [];
  return [programs.node, programs.bin].filter((file) => !existsSync(file)).map((file) => `${file} is missing`);
}

/** The jobs installed as units in `dir` (a service file with our marker). */
export async function scanUnits(dir: string): Promise<InstalledUnit[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const out: InstalledUnit[] = [];
  for (const file of names.sort()) {
    if (!/^backup-.*\.service$/.test(file) || file.endsWith('-check.service')) continue;
    let text: string;
    try {
      text = await fs.readFile(path.join(dir, file), 'utf8');
    } catch {
      continue;
    }
    const marker = parseMarker(text);
    if (marker) out.push({ name: file.slice(0, -'.service'.length), dir, marker, programs: unitPrograms(text) });
  }
  return out;
}

const unitFiles = (name: string): string[] => [`${name}.service`, `${name}.timer`, `${name}-check.service`, `${name}-check.timer`];

async function writeAtomic(file: string, text: string): Promise<boolean> {
  try {
    if ((await fs.readFile(file, 'utf8')) === text) return false;
  } catch {
    // Not there yet.
  }
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, text, { mode: 0o644 });
  await fs.rename(temporary, file);
  return true;
}

async function installSystemd(target: InstallTarget, m: MachineEnv, now: Date): Promise<InstallResult> {
  const user = target.user === true;
  const dir = unitDir(m, user);
  const units = systemdUnits(target, now);
  const name = installName(target.job);
  const stale = (await scanUnits(dir)).filter((u) => u.marker.config === target.job.settingsFile && u.name !== name).map((u) => u.name);
  const commands: string[][] = [];
  // What each file this install writes or deletes held before (undefined: absent), to put back if systemctl fails.
  const before = new Map<string, string | undefined>();
  const remember = async (file: string): Promise<void> => {
    if (!before.has(file)) before.set(file, await fs.readFile(file, 'utf8').catch(() => undefined));
  };
  let files: WrittenFile[];
  const replaced: string[] = [];
  try {
    await fs.mkdir(dir, { recursive: true });
    files = [];
    for (const unit of units) {
      const file = path.join(dir, unit.name);
      await remember(file);
      files.push({ path: file, text: unit.text, unchanged: !(await writeAtomic(file, unit.text)) });
    }
    for (const s of stale) {
      for (const f of unitFiles(s)) {
        await remember(path.join(dir, f));
        await fs.rm(path.join(dir, f), { force: true });
      }
      replaced.push(s);
    }
  } catch (error) {
    throw new BackupError(`cannot write the units in ${dir}: ${(error as Error).message}${user ? '' : ' (system units need root: run it with sudo, or use --user)'}`, { code: 'SCHEDULE_FAILED', cause: error });
  }
  commands.push(['daemon-reload'], ['enable', '--now', `${name}.timer`, `${name}-check.timer`]);
  // The old name's timers go only once the new ones are enabled: a failed enable leaves them running.
  if (stale.length > 0) commands.push(['disable', '--now', ...stale.flatMap((s) => [`${s}.timer`, `${s}-check.timer`])]);
  try {
    const { ran, toRun } = await systemctl(m, user, commands);
    return { backend: 'systemd', name, files, replaced, ran, toRun };
  } catch (error) {
    // Units systemd never took would stay behind, installed in name only: put the folder back as it was.
    const fresh0 = (): boolean => [...before.values()].every((text) => text === undefined);
    const restored: string[] = [];
    for (const [file, text] of before) {
      try {
        if (text === undefined) await fs.rm(file, { force: true });
        else await writeAtomic(file, text);
      } catch {
        restored.push(file);
      }
    }
    // systemd may have loaded the new definitions already: reload what is on disk again (best effort).
    const reloaded = fresh0() ? true : await systemctl(m, user, [['daemon-reload']]).then((r) => r.toRun.length === 0, () => false);
    const fresh = [...before.values()].every((text) => text === undefined);
    throw new BackupError(
      `${(error as Error).message}\n${restored.length > 0 ? `could not put back ${restored.join(', ')}: remove them by hand` : fresh ? `Removed the units this install wrote in ${dir}: nothing is scheduled.` : `Put the units in ${dir} back as they were before this install${reloaded ? ' (and reloaded systemd).' : `; once systemd answers, run: ${shellWords('systemctl', systemctlArgs(user, ['daemon-reload']))}`}`}\nsystemd is not running here? use --cron (\`${selfCommand(target, ['schedule', 'install', '--cron', '--config', target.job.settingsFile])}\`), or \`backup daemon\` (\`${selfCommand(target, ['daemon', '--config', target.job.settingsFile])}\`)`,
      { code: 'SCHEDULE_FAILED', cause: error },
    );
  }
}

async function installCron(target: InstallTarget, m: MachineEnv): Promise<InstallResult> {
  const program = { program: crontabProgram(m) };
  const name = installName(target.job);
  const block = cronBlock(target, { ionice: onPath('ionice', m.env) !== undefined });
  let text = await readCrontab(program);
  const replaced: string[] = [];
  for (const found of findBlocks(text)) {
    if (found.settingsFile === target.job.settingsFile && found.name !== name) {
      text = replaceBlock(text, found.name, undefined).text;
      replaced.push(found.name);
    }
  }
  const next = replaceBlock(text, name, block);
  const unchanged = next.removed === block && replaced.length === 0;
  if (!unchanged) await writeCrontab(program, next.text);
  return { backend: 'cron', name, files: [], replaced, crontabBlock: block, ran: unchanged ? [] : [`${program.program} -`], toRun: [] };
}

export async function installSchedule(target: InstallTarget, backend: Backend, m: MachineEnv, now: Date): Promise<InstallResult> {
  return backend === 'systemd' ? installSystemd(target, m, now) : installCron(target, m);
}

export async function removeSchedule(settingsFile: string, backend: Backend, user: boolean, m: MachineEnv): Promise<RemoveResult> {
  if (backend === 'cron') {
    const program = { program: crontabProgram(m) };
    let text = await readCrontab(program);
    const removed: string[] = [];
    for (const found of findBlocks(text)) {
      if (found.settingsFile !== settingsFile) continue;
      const r = replaceBlock(text, found.name, undefined);
      text = r.text;
      if (r.removed) removed.push(r.removed);
    }
    if (removed.length > 0) await writeCrontab(program, text);
    return { backend, removedFiles: [], ...(removed.length ? { removedBlock: removed.join('') } : {}), ran: removed.length ? [`${program.program} -`] : [], toRun: [], lookedIn: 'your crontab' };
  }
  const dir = unitDir(m, user);
  const mine = (await scanUnits(dir)).filter((u) => u.marker.config === settingsFile);
  if (mine.length === 0) return { backend, removedFiles: [], ran: [], toRun: [], lookedIn: dir };
  const { ran, toRun } = await systemctl(m, user, [['disable', '--now', ...mine.flatMap((u) => [`${u.name}.timer`, `${u.name}-check.timer`])]]);
  const removedFiles: string[] = [];
  for (const unit of mine) {
    for (const f of unitFiles(unit.name)) {
      const file = path.join(dir, f);
      if (existsSync(file)) {
        await fs.rm(file, { force: true });
        removedFiles.push(file);
      }
    }
  }
  const reload = await systemctl(m, user, [['daemon-reload']]);
  return { backend, removedFiles, ran: [...ran, ...reload.ran], toRun: [...toRun, ...reload.toRun], lookedIn: dir };
}

/**
 * After installing on `installed`, takes this job (same settings file) off
 * the other backend, so it does not run twice at every time (the second run
 * finding the job locked). Only where the other backend can be seen: the
 * crontab program is there, a unit folder is readable; `problems` when it was
 * seen but could not be removed.
 */
export async function removeFromOtherBackend(settingsFile: string, installed: Backend, m: MachineEnv): Promise<{ removed: RemoveResult[]; problems: string[] }> {
  const removed: RemoveResult[] = [];
  const problems: string[] = [];
  if (installed === 'systemd') {
    if (!onPath(crontabProgram(m), m.env)) return { removed, problems };
    try {
      const r = await removeSchedule(settingsFile, 'cron', false, m);
      if (r.removedBlock) removed.push(r);
    } catch {
      // The crontab cannot be read (no cron daemon, not allowed): it cannot be checked.
    }
    return { removed, problems };
  }
  const dirs: Array<[string, boolean]> = m.env.BACKUP_SYSTEMD_DIR ? [[unitDir(m, false), false]] : [[unitDir(m, false), false], [unitDir(m, true), true]];
  for (const [dir, user] of dirs) {
    if (!(await scanUnits(dir)).some((u) => u.marker.config === settingsFile)) continue;
    try {
      removed.push(await removeSchedule(settingsFile, 'systemd', user, m));
    } catch (error) {
      problems.push(`the job is also installed as systemd ${user ? 'user ' : ''}units in ${dir}, which could not be removed: ${(error as Error).message}`);
    }
  }
  return { removed, problems };
}

export interface ListedJob {
  backend: Backend;
  /** Where: the unit folder, or "crontab". */
  where: string;
  /** Unit / block name. */
  name: string;
  user: boolean;
  marker: InstalledMarker;
  /** The node and dist/bin.js it calls, when they can be read from the unit / block. */
  programs: Programs | undefined;
}

/** Every job installed on this machine: system and user units (or BACKUP_SYSTEMD_DIR), and the user's crontab blocks. */
export async function listInstalled(m: MachineEnv): Promise<{ jobs: ListedJob[]; problems: string[] }> {
  const jobs: ListedJob[] = [];
  const problems: string[] = [];
  const dirs: Array<[string, boolean]> = m.env.BACKUP_SYSTEMD_DIR ? [[unitDir(m, false), false]] : [[unitDir(m, false), false], [unitDir(m, true), true]];
  for (const [dir, user] of dirs) {
    for (const unit of await scanUnits(dir)) jobs.push({ backend: 'systemd', where: dir, name: unit.name, user, marker: unit.marker, programs: unit.programs });
  }
  const program = crontabProgram(m);
  if (onPath(program, m.env)) {
    try {
      for (const block of findBlocks(await readCrontab({ program }))) {
        if (block.marker) jobs.push({ backend: 'cron', where: 'crontab', name: block.name, user: true, marker: block.marker, programs: cronPrograms(block.text) });
      }
    } catch (error) {
      problems.push(`cannot read your crontab: ${(error as Error).message}`);
    }
  }
  return { jobs, problems };
}
