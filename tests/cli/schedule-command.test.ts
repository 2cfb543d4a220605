/**
 * `backup schedule install | remove | list` through the real CLI
 * (dist/bin.js): systemd units into a temporary unit folder
 * (BACKUP_SYSTEMD_DIR) with a recording systemctl (BACKUP_SYSTEMCTL), the
 * units checked by `systemd-analyze verify`; and a real crontab (Debian's
 * cron), of the `daemon` user (crontab -u, saved and restored) so this file
 * never races tests/automation/crontab.test.ts over root's.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendHistory } from '../../src/automation/history.js';
import { installName } from '../../src/automation/install-target.js';
import { PROJECT_ROOT, parseJsonResult, runCli, BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';
import { itAsRoot } from '../helpers/root.js';
import type { HistoryRecord } from '../../src/automation/types.js';

const run = promisify(execFile);
const SYSTEMD_RUNNING = existsSync('/run/systemd/system');
/** This tool as the units, the crontab line and every printed command call it (never `npx backup`). */
const SELF = `${process.execPath} ${BIN}`;

/** A crontab program keeping the crontab in a file (`-l`, `-`), for tests that need no real cron. */
async function fileCrontab(dir: string): Promise<{ program: string; file: string }> {
  const file = path.join(dir, 'crontab.txt');
  const program = path.join(dir, 'crontab');
  await fs.writeFile(program, `#!/bin/sh\ncase "$1" in\n  -l) [ -f '${file}' ] && exec cat '${file}'; echo "no crontab for $(id -un)" >&2; exit 1 ;;\n  -) cat > '${file}' ;;\nesac\n`, { mode: 0o755 });
  return { program, file };
}

interface Machine {
  units: string;
  log: string;
  env: NodeJS.ProcessEnv;
}

/** A unit folder and a systemctl that records its arguments, one call per line. */
async function machine(): Promise<Machine> {
  const dir = await tempDir('backup-sched-');
  const units = path.join(dir, 'units');
  const log = path.join(dir, 'systemctl.log');
  const systemctl = path.join(dir, 'systemctl');
  await fs.writeFile(systemctl, `#!/bin/sh\necho "$*" >> '${log}'\n`, { mode: 0o755 });
  return { units, log, env: { BACKUP_SYSTEMD_DIR: units, BACKUP_SYSTEMCTL: systemctl, TZ: 'UTC' } };
}

/** A project folder with a saved job. */
async function project(settings: Record<string, unknown>, folderName = 'site'): Promise<{ dir: string; file: string }> {
  const base = await tempDir();
  const dir = path.join(base, folderName);
  await fs.mkdir(path.join(dir, 'config'), { recursive: true });
  await fs.mkdir(path.join(dir, 'data'));
  const file = path.join(dir, 'config', 'settings.json');
  await fs.writeFile(file, JSON.stringify({ sources: ['./data'], destination: './backups', ...settings }, null, 2));
  return { dir, file };
}

const recorded = async (m: Machine): Promise<string[]> => (await fs.readFile(m.log, 'utf8').catch(() => '')).split('\n').filter(Boolean);

async function verify(files: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', ...files]);
    return stdout + stderr;
  } catch (error) {
    const e = error as { stdout: string; stderr: string };
    return `FAILED ${e.stdout}${e.stderr}`;
  }
}

describe('schedule install / remove / list with systemd units', () => {
  it('install writes the four units, verified, enables the timers, prints files, next runs and the undo; reinstall is the same', async () => {
    const m = await machine();
    const p = await project({ job: 'www', schedule: 'daily 02:30' });
    const first = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env: m.env });
    expect(first.code, first.stderr).toBe(0);
    const name = installName({ key: `config:${p.file}`, name: 'www' });
    const files = [`${name}.service`, `${name}.timer`, `${name}-check.service`, `${name}-check.timer`].map((f) => path.join(m.units, f));
    for (const file of files) {
      expect(first.stdout).toContain(`Wrote ${file}:\n`);
      // The contents, as written, indented.
      const text = await fs.readFile(file, 'utf8');
      for (const line of text.split('\n').filter(Boolean)) expect(first.stdout).toContain(`    ${line}\n`);
    }
    expect(await fs.readFile(files[0]!, 'utf8')).toContain(`WorkingDirectory=${p.dir}\n`);
    expect(await fs.readFile(files[0]!, 'utf8')).toContain(`ExecStart="${process.execPath}" "${BIN}" "run" "--config" "${p.file}"\n`);
    expect(await fs.readFile(files[2]!, 'utf8')).toContain(`"status" "--alert" "--config" "${p.file}"\n`);
    expect(await verify(files)).toBe('');
    expect(first.stdout).toMatch(/Next runs: \d{4}-\d\d-\d\d 02:30:00, \d{4}-\d\d-\d\d 02:30:00, \d{4}-\d\d-\d\d 02:30:00/);
    expect(first.stdout).toContain(`Undo: ${SELF} schedule remove --config ${p.file}\n`);
    expect(first.stdout).not.toContain('npx backup');
    expect(await fs.readFile(files[0]!, 'utf8')).toContain(`# Written by \`backup schedule install\`; undo: ${SELF} schedule remove --config ${p.file}\n`);
    expect(await recorded(m)).toEqual(['daemon-reload', `enable --now ${name}.timer ${name}-check.timer`]);

    const again = await runCli(['schedule', 'install', '--systemd', '--json'], { cwd: p.dir, env: m.env });
    expect(again.code, again.stderr).toBe(0);
    const json = parseJsonResult(again);
    expect(json).toMatchObject({ ok: true, backend: 'systemd', name, settingsFile: p.file, workDir: p.dir, schedule: 'daily 02:30', undo: `${SELF} schedule remove --config ${p.file}` });
    expect(json.files.map((f: { path: string; unchanged: boolean }) => [f.path, f.unchanged])).toEqual(files.map((f) => [f, true]));
    expect(json.nextRuns).toHaveLength(3);
    expect((await fs.readdir(m.units)).sort()).toEqual(files.map((f) => path.basename(f)).sort());
  });

  it('several jobs side by side; list shows each with its next run and last result; remove takes only its own', async () => {
    const m = await machine();
    const a = await project({ job: 'alpha', schedule: 'hourly :15' }, 'alpha');
    const b = await project({ job: 'beta', schedule: 'weekly sun 03:00', logFile: 'var/beta.log' }, 'beta');
    for (const p of [a, b]) expect((await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env: m.env })).code).toBe(0);
    expect(await fs.readdir(m.units)).toHaveLength(8);

    // beta ran once and failed: its history sits beside its log file.
    const record: HistoryRecord = {
      v: 1, type: 'end', id: 'r1', job: `config:${b.file}`, jobName: 'beta', command: 'run', trigger: 'scheduled', host: 'h', pid: 1,
      start: '2026-06-07T03:00:00.000Z', end: '2026-06-07T03:01:00.000Z', outcome: 'failed', exitCode: 1, archive: null, bytes: null,
      files: null, skipped: null, destinations: [], error: { code: 'DISK_FULL', message: 'no space left on /backups' },
    };
    await fs.mkdir(path.join(b.dir, 'var'), { recursive: true });
    await appendHistory(path.join(b.dir, 'var', 'history.jsonl'), record);

    const listed = await runCli(['schedule', 'list', '--json'], { cwd: a.dir, env: m.env });
    expect(listed.code, listed.stderr).toBe(0);
    const jobs = parseJsonResult(listed).jobs as Array<Record<string, any>>;
    expect(jobs.map((j) => [j.job, j.settingsFile, j.backend, j.schedule, j.workDir])).toEqual(
      expect.arrayContaining([
        ['alpha', a.file, 'systemd', 'hourly :15', a.dir],
        ['beta', b.file, 'systemd', 'weekly sun 03:00', b.dir],
      ]),
    );
    const alpha = jobs.find((j) => j.job === 'alpha')!;
    const beta = jobs.find((j) => j.job === 'beta')!;
    expect(alpha.nextRun).toMatch(/T\d\d:15:00\.000Z$/);
    expect(alpha.lastRun).toBeNull();
    expect(new Date(beta.nextRun).getUTCDay()).toBe(0);
    expect(beta.lastRun).toMatchObject({ outcome: 'failed', exitCode: 1, error: 'no space left on /backups' });

    const human = await runCli(['schedule', 'list'], { cwd: a.dir, env: m.env });
    expect(human.stdout).toContain(`beta  (${b.file})\n`);
    expect(human.stdout).toContain('  last run:  failed (exit 1) at 2026-06-07 03:01:00: no space left on /backups\n');
    expect(human.stdout).toContain('  last run:  never run\n');

    const removed = await runCli(['schedule', 'remove', '--systemd', '--config', 'config/settings.json'], { cwd: a.dir, env: m.env });
    expect(removed.code, removed.stderr).toBe(0);
    const nameA = installName({ key: `config:${a.file}`, name: 'alpha' });
    expect(removed.stdout).toContain(`Removed ${path.join(m.units, `${nameA}.timer`)}\n`);
    expect((await recorded(m)).slice(-2)).toEqual([`disable --now ${nameA}.timer ${nameA}-check.timer`, 'daemon-reload']);
    const left = await fs.readdir(m.units);
    expect(left).toHaveLength(4);
    expect(left.every((f) => f.startsWith(installName({ key: `config:${b.file}`, name: 'beta' })))).toBe(true);

    const nothing = await runCli(['schedule', 'remove', '--systemd'], { cwd: a.dir, env: m.env });
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toBe(`Nothing was installed for ${a.file} (looked in ${m.units}); nothing to remove.\n`);
  });

  it('--user: systemctl --user, and the undo says --user', async () => {
    const m = await machine();
    const p = await project({ schedule: 'daily' });
    const out = await runCli(['schedule', 'install', '--systemd', '--user'], { cwd: p.dir, env: m.env });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(`Undo: ${SELF} schedule remove --config ${p.file} --user\n`);
    expect((await recorded(m))[0]).toBe('--user daemon-reload');
  });

  itAsRoot('a unit folder the user cannot write: exit 1 (SCHEDULE_FAILED), saying system units need root', async () => {
    const m = await machine();
    // An absolute source: run from another folder than the project, which a relative one would refuse.
    const p = await project({ schedule: 'daily', sources: ['/srv/data'] });
    await fs.mkdir(m.units, { mode: 0o755 });
    await fs.chmod(path.dirname(m.log), 0o777);
    const out = await runCli(['schedule', 'install', '--systemd', '--json', '--config', p.file], { cwd: path.dirname(m.log), env: m.env, asUser: 65534 });
    expect(out.code, out.stderr).toBe(1);
    expect(parseJsonResult(out).error).toMatchObject({ code: 'SCHEDULE_FAILED', message: expect.stringMatching(/cannot write the units in .*: EACCES.*system units need root: run it with sudo, or use --user/) });
    expect(await fs.readdir(m.units)).toEqual([]);
  });

  it('a project folder with a space and a %: units verified, the path escaped', async () => {
    const m = await machine();
    const p = await project({ schedule: '0 0 1 * mon' }, 'my site 100%');
    const out = await runCli(['schedule', 'install', '--systemd', '--json'], { cwd: p.dir, env: m.env });
    expect(out.code, out.stderr).toBe(0);
    const files = (parseJsonResult(out).files as Array<{ path: string; text: string }>).map((f) => f.path);
    const service = await fs.readFile(files[0]!, 'utf8');
    expect(service).toContain(`WorkingDirectory=${p.dir.replace('%', '%%')}\n`);
    expect(service).toContain(`"${p.file.replace('%', '%%')}"\n`);
    expect(await fs.readFile(files[1]!, 'utf8')).toContain('OnCalendar=*-*-01 00:00:00\nOnCalendar=Mon *-*-* 00:00:00\n');
    expect(await verify(files)).toBe('');
  });

  it('no "schedule" in the settings: exit 2 with an example', async () => {
    const m = await machine();
    const p = await project({});
    const out = await runCli(['schedule', 'install', '--systemd', '--config', 'config/settings.json'], { cwd: p.dir, env: m.env });
    expect(out.code).toBe(2);
    expect(out.stderr).toBe('error: config/settings.json has no "schedule"; add e.g. "schedule": "daily 02:30"\n');
    expect(existsSync(m.units)).toBe(false);
  });

  it('run from another folder than the project: refused (exit 2), naming the missing source, the folder, and the folder to run it from', async () => {
    const m = await machine();
    const p = await project({ schedule: 'daily', sources: ['./data', '/nonexistent/mount'] });
    const out = await runCli(['schedule', 'install', '--systemd', '--config', p.file], { cwd: '/', env: m.env });
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(
      `error: source ./data does not exist in /, the folder the scheduled job would run in: every run would fail. Run \`schedule install\` from the folder the job runs in (where \`backup run --config FILE\` works), e.g. cd ${p.dir} && ${SELF} schedule install --systemd --config ${p.file}\n`,
    );
    expect(existsSync(m.units)).toBe(false);
    const json = parseJsonResult(await runCli(['schedule', 'install', '--systemd', '--json', '--config', p.file], { cwd: '/', env: m.env }));
    expect(json.error.code).toBe('USAGE');
    // From the project folder: the absolute source that is missing now (a mount) is not checked.
    const ok = await runCli(['schedule', 'install', '--systemd', '--config', p.file], { cwd: p.dir, env: m.env });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('no settings file: exit 2', async () => {
    const m = await machine();
    const dir = await tempDir();
    const out = await runCli(['schedule', 'install', '--systemd', '--json'], { cwd: dir, env: m.env });
    expect(out.code).toBe(2);
    expect(parseJsonResult(out).error.message).toMatch(/no settings file: give --config FILE/);
  });

  it.skipIf(SYSTEMD_RUNNING)('systemd not running and no BACKUP_SYSTEMCTL: writes the units, prints the systemctl commands to run', async () => {
    const m = await machine();
    const p = await project({ schedule: 'daily 01:00' });
    const out = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env: { BACKUP_SYSTEMD_DIR: m.units } });
    expect(out.code, out.stderr).toBe(0);
    const name = installName({ key: `config:${p.file}`, name: 'site' });
    expect(out.stdout).toContain(`systemd is not running here: run these once it is (or on the machine these units are for):\n  systemctl daemon-reload\n  systemctl enable --now ${name}.timer ${name}-check.timer\n`);
    expect(await fs.readdir(m.units)).toHaveLength(4);
  });

  it.skipIf(SYSTEMD_RUNNING)('neither systemd nor crontab: exit 2, pointing at backup daemon', async () => {
    const p = await project({ schedule: 'daily' });
    const out = await runCli(['schedule', 'install'], { cwd: p.dir, env: { PATH: '/nonexistent' } });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('neither systemd nor cron runs on this machine');
    expect(out.stderr).toContain('backup daemon --config FILE');
  });
});

describe('schedule install / remove / list with a real crontab', () => {
  const USER = 'daemon';
  let saved = '';
  let hadCrontab = false;
  let wrapperEnv: NodeJS.ProcessEnv;
  const crontab = (...args: string[]): string => execFileSync('crontab', ['-u', USER, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  beforeAll(async () => {
    try {
      saved = crontab('-l');
      hadCrontab = true;
    } catch {
      hadCrontab = false;
    }
    const dir = await tempDir('backup-crontab-');
    const wrapper = path.join(dir, 'crontab');
    await fs.writeFile(wrapper, `#!/bin/sh\nexec crontab -u ${USER} "$@"\n`, { mode: 0o755 });
    // No unit folder with jobs in it: list shows the crontab's only.
    wrapperEnv = { BACKUP_CRONTAB: wrapper, BACKUP_SYSTEMD_DIR: path.join(dir, 'no-units'), TZ: 'UTC' };
  });
  afterAll(() => {
    if (hadCrontab) execFileSync('crontab', ['-u', USER, '-'], { input: saved });
    else execFileSync('crontab', ['-u', USER, '-r'], { stdio: 'ignore' });
  });

  it('install keeps the other lines, reinstall replaces only its block, list reads it, remove takes it out', async () => {
    const other = 'MAILTO=""\n# someone else\n*/5 * * * * /usr/local/bin/poll "50\\%"\n';
    execFileSync('crontab', ['-u', USER, '-'], { input: other });
    const a = await project({ job: 'alpha', schedule: 'daily 02:30' }, 'alpha site');
    const b = await project({ job: 'beta', schedule: '0 4 * * 1-5' }, 'beta');

    const out = await runCli(['schedule', 'install', '--cron'], { cwd: a.dir, env: wrapperEnv });
    expect(out.code, out.stderr).toBe(0);
    const installed = crontab('-l');
    expect(installed.startsWith(other)).toBe(true);
    const block = installed.slice(other.length);
    expect(out.stdout).toContain('Wrote this block into your crontab (crontab -l shows it; other lines kept):\n');
    for (const line of block.split('\n').filter(Boolean)) expect(out.stdout).toContain(`    ${line}\n`);
    expect(block).toContain(`30 2 * * * cd '${a.dir}' && BACKUP_TRIGGER=scheduled nice -n 10 `);
    expect(block).toContain(`run --config '${a.file}' >/dev/null\n`);
    expect(block).toContain(`17 */6 * * * cd '${a.dir}' && nice -n 10 `);
    expect(out.stdout).toContain(`Undo: ${SELF} schedule remove --config '${a.file}'\n`);
    expect(block).toContain(`# stdout goes nowhere, stderr stays: cron mails a failure. Undo: ${SELF} schedule remove --config '${a.file}'\n`);

    // Reinstall after a schedule change: the block replaced in place; a second job beside it.
    await fs.writeFile(a.file, JSON.stringify({ sources: ['./data'], destination: './backups', job: 'alpha', schedule: 'daily 03:45' }));
    expect((await runCli(['schedule', 'install', '--cron'], { cwd: a.dir, env: wrapperEnv })).code).toBe(0);
    expect((await runCli(['schedule', 'install', '--cron'], { cwd: b.dir, env: wrapperEnv })).code).toBe(0);
    const both = crontab('-l');
    expect(both.startsWith(other)).toBe(true);
    expect(both.match(/# >>> backup-automation /g)).toHaveLength(2);
    expect(both).toContain('45 3 * * * cd ');
    expect(both).not.toContain('30 2 * * * cd ');
    expect(both).toContain('0 4 * * 1-5 cd ');

    const listed = parseJsonResult(await runCli(['schedule', 'list', '--json'], { cwd: a.dir, env: wrapperEnv }));
    expect((listed.jobs as Array<Record<string, any>>).map((j) => [j.job, j.backend, j.schedule, j.settingsFile])).toEqual([
      ['alpha', 'cron', 'daily 03:45', a.file],
      ['beta', 'cron', '0 4 * * 1-5', b.file],
    ]);

    const removed = await runCli(['schedule', 'remove', '--cron'], { cwd: a.dir, env: wrapperEnv });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('Removed this block from your crontab:\n');
    const after = crontab('-l');
    expect(after.startsWith(other)).toBe(true);
    expect(after).not.toContain(a.file);
    expect(after).toContain(b.file);
    expect((await runCli(['schedule', 'remove', '--cron'], { cwd: b.dir, env: wrapperEnv })).code).toBe(0);
    expect(crontab('-l')).toBe(other);
  });

  it('a schedule with seconds is refused for cron: exit 2, use --systemd or backup daemon', async () => {
    const p = await project({ schedule: '*/10 * * * * *' });
    const out = await runCli(['schedule', 'install', '--cron'], { cwd: p.dir, env: wrapperEnv });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('has a seconds field, and cron runs a line at most once a minute: use --systemd, or `backup daemon`');
  });
});

describe('schedule install / list when the programs the units call may vanish', () => {
  /** Runs a CLI at `bin` (not the project's), exit code and output even when it fails. */
  async function runAt(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('installed from the npx cache: a warning recommending a project or global install; once the cache is cleaned, list says broken and exits 1', async () => {
    const m = await machine();
    const p = await project({ job: 'www', schedule: 'daily 02:30' });
    // The tool as npx unpacks it: ~/.npm/_npx/<hash>/node_modules/backup-automation/dist/bin.js.
    const cache = path.join(await tempDir(), '.npm', '_npx', '5d1a9c', 'node_modules');
    const pkg = path.join(cache, 'backup-automation');
    await fs.mkdir(pkg, { recursive: true });
    await fs.cp(path.dirname(BIN), path.join(pkg, 'dist'), { recursive: true });
    await fs.copyFile(path.join(PROJECT_ROOT, 'package.json'), path.join(pkg, 'package.json'));
    await fs.symlink(path.join(PROJECT_ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    const npxBin = path.join(pkg, 'dist', 'bin.js');

    const installed = await runAt(npxBin, ['schedule', 'install', '--systemd'], p.dir, m.env);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stderr).toContain(`warning: the schedule calls ${npxBin}, in npx's cache, which npm may clean or replace`);
    expect(installed.stderr).toContain('Install the tool in the project (`npm install backup-automation` in the project folder, then `npx backup schedule install` from there, which uses node_modules/.bin) or globally');
    const service = await fs.readFile(path.join(m.units, `${installName({ key: `config:${p.file}`, name: 'www' })}.service`), 'utf8');
    expect(service).toContain(`ExecStart="${process.execPath}" "${npxBin}" "run"`);

    // Still there: list is fine.
    const fine = await runCli(['schedule', 'list', '--json'], { cwd: p.dir, env: m.env });
    expect(fine.code, fine.stderr).toBe(0);
    expect(parseJsonResult(fine).jobs[0].broken).toEqual([]);

    // `npm cache clean --force`: the program is gone, every timer run would fail.
    await fs.rm(path.join(cache, '..'), { recursive: true });
    const human = await runCli(['schedule', 'list'], { cwd: p.dir, env: m.env });
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`  broken:    ${npxBin} is missing (its runs fail: install the schedule again from the project folder)\n`);
    const json = await runCli(['schedule', 'list', '--json'], { cwd: p.dir, env: m.env });
    expect(json.code).toBe(1);
    expect(parseJsonResult(json).jobs[0].broken).toEqual([`${npxBin} is missing`]);
  });

  it('a unit whose node is gone (node upgraded under a version manager): list says broken: NODE is missing, exit 1; a project install gives no warning', async () => {
    const m = await machine();
    const p = await project({ job: 'db', schedule: 'hourly' });
    const installed = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env: m.env });
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stderr).not.toContain('warning');
    const file = path.join(m.units, `${installName({ key: `config:${p.file}`, name: 'db' })}.service`);
    const gone = path.join(await tempDir(), '.nvm', 'versions', 'node', 'v20.1.0', 'bin', 'node');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace(`ExecStart="${process.execPath}"`, `ExecStart="${gone}"`));
    const listed = await runCli(['schedule', 'list'], { cwd: p.dir, env: m.env });
    expect(listed.code).toBe(1);
    expect(listed.stdout).toContain(`  broken:    ${gone} is missing`);
    expect(listed.stdout).not.toContain(`${BIN} is missing`);
  });
});

describe('schedule install moves a job between systemd and cron', () => {
  it.skipIf(SYSTEMD_RUNNING)('--systemd where systemd does not run (units written, not enabled): the crontab block stays, and the output says how to remove it once they are', async () => {
    const m = await machine();
    const cron = await fileCrontab(path.dirname(m.log));
    const env: NodeJS.ProcessEnv = { ...m.env, BACKUP_CRONTAB: cron.program };
    delete env.BACKUP_SYSTEMCTL;
    const p = await project({ job: 'www', schedule: 'daily 02:30' });
    expect((await runCli(['schedule', 'install', '--cron'], { cwd: p.dir, env })).code).toBe(0);
    const block = await fs.readFile(cron.file, 'utf8');
    const toSystemd = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env });
    expect(toSystemd.code, toSystemd.stderr).toBe(0);
    expect(toSystemd.stdout).toContain('systemd is not running here');
    expect(await fs.readFile(cron.file, 'utf8')).toBe(block);
    expect(toSystemd.stdout).toMatch(/If this job is also in your crontab, remove it there once these units are enabled: .*schedule remove --cron --config /);
  });

  it('--cron then --systemd takes the crontab block out, and --systemd then --cron takes the units out: the job never runs twice', async () => {
    const m = await machine();
    const cron = await fileCrontab(path.dirname(m.log));
    const other = 'MAILTO=""\n*/5 * * * * /usr/local/bin/poll\n';
    await fs.writeFile(cron.file, other);
    const env = { ...m.env, BACKUP_CRONTAB: cron.program };
    const p = await project({ job: 'www', schedule: 'daily 02:30' });
    const name = installName({ key: `config:${p.file}`, name: 'www' });

    expect((await runCli(['schedule', 'install', '--cron'], { cwd: p.dir, env })).code).toBe(0);
    const block = (await fs.readFile(cron.file, 'utf8')).slice(other.length);
    expect(block).toContain(`# >>> backup-automation ${name} `);

    const toSystemd = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env });
    expect(toSystemd.code, toSystemd.stderr).toBe(0);
    expect(await fs.readFile(cron.file, 'utf8')).toBe(other);
    expect(toSystemd.stdout).toContain(`Removed the job's crontab block ${name} (it is now a systemd timer):\n${block.replace(/^(?=.)/gm, '    ')}`);
    expect(await fs.readdir(m.units)).toHaveLength(4);

    const toCron = await runCli(['schedule', 'install', '--cron', '--json'], { cwd: p.dir, env });
    expect(toCron.code, toCron.stderr).toBe(0);
    expect(await fs.readdir(m.units)).toEqual([]);
    expect(await fs.readFile(cron.file, 'utf8')).toBe(other + block);
    const json = parseJsonResult(toCron);
    expect(json.removedFromOther).toEqual([
      expect.objectContaining({ backend: 'systemd', removedFiles: [`${name}.service`, `${name}.timer`, `${name}-check.service`, `${name}-check.timer`].map((f) => path.join(m.units, f)) }),
    ]);
    expect((await recorded(m)).slice(-2)).toEqual([`disable --now ${name}.timer ${name}-check.timer`, 'daemon-reload']);
    const human = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env });
    expect(human.stdout).toContain("Removed the job's crontab block");
    const back = await runCli(['schedule', 'install', '--cron'], { cwd: p.dir, env });
    expect(back.stdout).toContain(`Removed the job's systemd units (it is now a crontab block): ${path.join(m.units, `${name}.service`)}, `);

    // Another job's entries are left alone; with the other backend out of sight, nothing is said.
    const q = await project({ job: 'db', schedule: 'hourly' }, 'db');
    const alone = await runCli(['schedule', 'install', '--systemd'], { cwd: q.dir, env: { ...m.env, BACKUP_CRONTAB: path.join(path.dirname(m.log), 'no-crontab-here') } });
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout).not.toContain('Removed');
    expect(await fs.readFile(cron.file, 'utf8')).toBe(other + block);
  });
});

describe('schedule install when systemctl or crontab fails', () => {
  /** A program that fails as systemctl does in a container: two lines on stderr, exit 1. */
  async function failing(dir: string, name: string, lines: string[]): Promise<string> {
    const program = path.join(dir, name);
    await fs.writeFile(program, `#!/bin/sh\n[ "$1" = -l ] && exit 0\n${lines.map((l) => `echo '${l}' >&2`).join('\n')}\nexit 1\n`, { mode: 0o755 });
    return program;
  }
  const BOOT = ['System has not been booted with systemd as init system (PID 1). Cannot operate.', 'Failed to connect to bus: Host is down'];

  it('systemctl fails: the units this install wrote are removed, each stderr line on its own line, the way forward; exit 1', async () => {
    const m = await machine();
    const env = { ...m.env, BACKUP_SYSTEMCTL: await failing(path.dirname(m.log), 'systemctl-fails', BOOT) };
    const p = await project({ job: 'www', schedule: 'daily' });
    const out = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env });
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(
      'error: `systemctl daemon-reload` failed (exit 1):\n' +
        `    ${BOOT[0]}\n    ${BOOT[1]}\n` +
        `Removed the units this install wrote in ${m.units}: nothing is scheduled.\n` +
        `systemd is not running here? use --cron (\`${SELF} schedule install --cron --config ${p.file}\`), or \`backup daemon\` (\`${SELF} daemon --config ${p.file}\`)\n`,
    );
    expect(out.stderr).not.toContain('\\x0a');
    expect(await fs.readdir(m.units)).toEqual([]);
    const json = parseJsonResult(await runCli(['schedule', 'install', '--systemd', '--json'], { cwd: p.dir, env }));
    expect(json.error).toEqual({ code: 'SCHEDULE_FAILED', message: expect.stringContaining(`failed (exit 1):\n    ${BOOT[0]}\n    ${BOOT[1]}\n`) });
  });

  it('systemctl fails on a reinstall after a schedule change: the previous units are put back as they were', async () => {
    const m = await machine();
    const p = await project({ job: 'www', schedule: 'daily 02:30' });
    expect((await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env: m.env })).code).toBe(0);
    const before = new Map<string, string>();
    for (const f of await fs.readdir(m.units)) before.set(f, await fs.readFile(path.join(m.units, f), 'utf8'));
    await fs.writeFile(p.file, JSON.stringify({ sources: ['./data'], destination: './backups', job: 'www', schedule: 'daily 04:00' }));
    const env = { ...m.env, BACKUP_SYSTEMCTL: await failing(path.dirname(m.log), 'systemctl-fails', BOOT) };
    const out = await runCli(['schedule', 'install', '--systemd'], { cwd: p.dir, env });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`Put the units in ${m.units} back as they were before this install; once systemd answers, run: systemctl daemon-reload\n`);
    const after = new Map<string, string>();
    for (const f of await fs.readdir(m.units)) after.set(f, await fs.readFile(path.join(m.units, f), 'utf8'));
    expect(after).toEqual(before);
  });

  it('crontab refuses the new crontab: each stderr line on its own line, exit 1', async () => {
    const dir = await tempDir();
    const program = await failing(dir, 'crontab', ['"-":2: bad minute', "errors in crontab file, cannot install."]);
    const p = await project({ schedule: 'daily' });
    const out = await runCli(['schedule', 'install', '--cron'], { cwd: p.dir, env: { BACKUP_CRONTAB: program, BACKUP_SYSTEMD_DIR: path.join(dir, 'units') } });
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(`error: \`${program} -\` refused the new crontab (exit 1):\n    "-":2: bad minute\n    errors in crontab file, cannot install.\n`);
  });
});
