import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedule, nextRun, nextRuns } from '../../src/automation/schedule.js';
import { compressField, onCalendar, quoteExecArg, randomizedDelaySeconds, systemdUnits } from '../../src/automation/systemd-units.js';
import { installName, parseMarker, type InstallTarget } from '../../src/automation/install-target.js';
import { BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

const run = promisify(execFile);

// Croner and systemd-analyze both compute in local time: one zone for both
// (this file runs in its own forked process), with a DST change in reach.
const ZONE = 'Europe/Berlin';
const originalTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = ZONE;
});
afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

function target(settingsFile: string, workDir: string, schedule = 'daily 02:30', name = 'www'): InstallTarget {
  return { job: { key: `config:${settingsFile}`, name, settingsFile }, schedule: parseSchedule(schedule), workDir, node: process.execPath, bin: BIN };
}

/** systemd-analyze verify on the files; returns its complaints (empty when the units are good). */
async function verify(dir: string, names: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', ...names.map((n) => path.join(dir, n))], { cwd: dir });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/** The next `count` elapses systemd computes for the OnCalendar values, from `base`, as ISO UTC. */
async function systemdNext(calendars: string[], base: Date, count: number): Promise<string[]> {
  const { stdout } = await run('systemd-analyze', ['calendar', `--iterations=${count}`, `--base-time=@${Math.floor(base.getTime() / 1000)}`, ...calendars], {
    env: { ...process.env, TZ: ZONE },
  });
  const times = [...stdout.matchAll(/\(in UTC\): \w{3} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC/g)].map((m) => new Date(`${m[1]}T${m[2]}Z`).toISOString());
  return [...new Set(times)].sort().slice(0, count);
}

describe('cron -> OnCalendar', () => {
  it.each([
    ['daily 02:30', ['*-*-* 02:30:00']],
    ['hourly :15', ['*-*-* *:15:00']],
    ['weekly sun 03:00', ['Sun *-*-* 03:00:00']],
    ['monthly 15 04:00', ['*-*-15 04:00:00']],
    ['yearly', ['*-01-01 00:00:00']],
    ['*/15 * * * *', ['*-*-* *:00/15:00']],
    ['5-10/2 1,3,5 * * *', ['*-*-* 01,03,05:05,07,09:00']],
    ['0 9-17 * * mon-fri', ['Mon..Fri *-*-* 09..17:00:00']],
    ['0 3 * * sat,sun', ['Sat,Sun *-*-* 03:00:00']],
    ['30 2 * jan,jul *', ['*-01,07-* 02:30:00']],
    ['0 0 1 * 0', ['*-*-01 00:00:00', 'Sun *-*-* 00:00:00']],
    ['0 12 */10 * 1', ['*-*-01/10 12:00:00', 'Mon *-*-* 12:00:00']],
    ['*/10 * * * * *', ['*-*-* *:*:00/10']],
    ['15,45 30 2 * * *', ['*-*-* 02:30:15,45']],
    ['0 0 * * 7', ['Sun *-*-* 00:00:00']],
  ])('%s -> %j, and systemd agrees with croner on the next runs', async (text, expected) => {
    const schedule = parseSchedule(text);
    expect(onCalendar(schedule)).toEqual(expected);
    // The same instants from both, across the spring DST change in Berlin
    // (2026-03-29 02:00 -> 03:00), but one: a fixed time inside the skipped
    // hour. Croner (like Vixie cron) runs it at 03:00; systemd skips that day.
    const gapRun = '2026-03-29T01:00:00.000Z';
    for (const base of [new Date('2026-03-27T10:00:07Z'), new Date('2026-06-10T10:00:00Z')]) {
      const count = 8;
      const ours = nextRuns(schedule, base, count).map((d) => d.toISOString());
      const theirs = await systemdNext(expected, base, count);
      const oursWithoutGap = schedule.cron.endsWith('* * *') && /^\d+ 2 /.test(schedule.cron) ? ours.filter((t) => t !== gapRun) : ours;
      expect(theirs.slice(0, oursWithoutGap.length)).toEqual(oursWithoutGap);
    }
  });

  it('a fixed time in the hour skipped by DST: croner runs it after the jump, systemd skips the day', async () => {
    const schedule = parseSchedule('daily 02:30');
    const base = new Date('2026-03-28T10:00:00Z');
    expect(nextRun(schedule, base)?.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(await systemdNext(onCalendar(schedule), base, 1)).toEqual(['2026-03-30T00:30:00.000Z']);
  });

  it.each([['0 0 L * *'], ['0 0 * * 1#2'], ['0 0 15W * *']])('%s has no systemd form: refused', (text) => {
    expect(() => onCalendar(parseSchedule(text))).toThrow(/a systemd timer cannot say: use a plain cron expression, or `backup daemon`/);
  });

  it.each([
    [[0, 15, 30, 45], 0, 59, '00/15'],
    [[1, 2, 3, 7], 0, 59, '01..03,07'],
    [[1, 2], 0, 59, '01,02'],
    [[5], 0, 23, '05'],
    [Array.from({ length: 24 }, (_, i) => i), 0, 23, '*'],
    [[0, 20, 40, 50], 0, 59, '00,20,40,50'],
    [[10, 20, 30], 0, 59, '10,20,30'],
  ])('compressField(%j) -> %s', (list, min, max, text) => {
    expect(compressField(list, min, max)).toBe(text);
  });

  it('RandomizedDelaySec: a tenth of the interval, at most 5 minutes', () => {
    const now = new Date('2026-06-10T10:00:00Z');
    expect(randomizedDelaySeconds(parseSchedule('daily'), now)).toBe(300);
    expect(randomizedDelaySeconds(parseSchedule('*/20 * * * *'), now)).toBe(120);
    expect(randomizedDelaySeconds(parseSchedule('*/5 * * * * *'), now)).toBe(0);
  });
});

describe('ExecStart quoting', () => {
  it.each([
    ['/srv/www/settings.json', '"/srv/www/settings.json"'],
    ['/a b/c', '"/a b/c"'],
    ['/50%/x', '"/50%%/x"'],
    ['/$HOME/x', '"/$$HOME/x"'],
    ['/say "hi"/x', '"/say \\"hi\\"/x"'],
    ['/back\\slash', '"/back\\\\slash"'],
  ])('%s -> %s', (arg, quoted) => {
    expect(quoteExecArg(arg)).toBe(quoted);
  });
});

describe('systemdUnits', () => {
  const now = new Date('2026-06-10T10:00:00Z');

  it('writes a service, a timer and the check pair that systemd-analyze verify accepts', async () => {
    const dir = await tempDir();
    const t = target('/srv/www/config/settings.json', dir);
    const units = systemdUnits(t, now);
    const name = installName(t.job);
    expect(name).toMatch(/^backup-www-[0-9a-f]{8}$/);
    expect(units.map((u) => u.name)).toEqual([`${name}.service`, `${name}.timer`, `${name}-check.service`, `${name}-check.timer`]);
    const [service, timer, checkService, checkTimer] = units.map((u) => u.text);
    expect(service).toContain(`WorkingDirectory=${dir}\n`);
    // systemd's own .env parsing differs from dotenv and would win over it: backup reads .env itself.
    expect(service).not.toContain('EnvironmentFile');
    expect(service).toContain('\n# .env in WorkingDirectory is read by backup itself (dotenv rules), not by systemd\n');
    expect(service).toContain('Environment=BACKUP_TRIGGER=scheduled\n');
    expect(service).toContain(`ExecStart="${process.execPath}" "${BIN}" "run" "--config" "/srv/www/config/settings.json"\n`);
    expect(service).toMatch(/Type=oneshot\n[\s\S]*Nice=10\nIOSchedulingClass=idle\nCPUSchedulingPolicy=batch\n/);
    expect(parseMarker(service!)).toEqual({ job: 'www', config: '/srv/www/config/settings.json', workdir: dir, schedule: 'daily 02:30' });
    expect(timer).toContain('OnCalendar=*-*-* 02:30:00\nPersistent=true\nRandomizedDelaySec=300\nAccuracySec=1s\n');
    expect(timer).toContain(`Unit=${name}.service\n`);
    expect(timer).toContain('[Install]\nWantedBy=timers.target\n');
    expect(checkService).toContain(`"status" "--alert" "--config" "/srv/www/config/settings.json"`);
    expect(parseMarker(checkService!)).toBeUndefined();
    expect(checkTimer).toContain('OnCalendar=*-*-* 00/6:17:00\nPersistent=false\n');
    for (const u of units) await fs.writeFile(path.join(dir, u.name), u.text);
    expect(await verify(dir, units.map((u) => u.name))).toEqual({ code: 0, output: '' });
  });

  it('a settings path and folder with a space, %, $, quotes and a backslash: verified, and the marker gives them back', async () => {
    const base = await tempDir();
    const workDir = path.join(base, 'my backups 100% $HOME "q"');
    await fs.mkdir(workDir);
    const settingsFile = path.join(workDir, 'config dir', 'a\\b %n.json');
    const t = target(settingsFile, workDir, '0 0 1 * sun', 'Nightly Photos!');
    const units = systemdUnits(t, now);
    expect(units[0]!.name).toMatch(/^backup-nightly-photos-[0-9a-f]{8}\.service$/);
    expect(units[0]!.text).toContain(`WorkingDirectory=${workDir.replace(/%/g, '%%')}\n`);
    expect(units[0]!.text).toContain(` ${quoteExecArg(settingsFile)}\n`);
    expect(units[1]!.text).toContain('OnCalendar=*-*-01 00:00:00\nOnCalendar=Sun *-*-* 00:00:00\n');
    expect(parseMarker(units[0]!.text)).toEqual({ job: 'Nightly Photos!', config: settingsFile, workdir: workDir, schedule: '0 0 1 * sun' });
    for (const u of units) await fs.writeFile(path.join(workDir, u.name), u.text);
    expect(await verify(workDir, units.map((u) => u.name))).toEqual({ code: 0, output: '' });
  });

  it('user units: no network-online.target (a user manager has none), the undo says --user; verified', async () => {
    const dir = await tempDir();
    const units = systemdUnits({ ...target('/srv/www/config/settings.json', dir), user: true }, now);
    expect(units[0]!.text).not.toContain('network-online');
    expect(units[0]!.text).toContain(`undo: ${process.execPath} ${BIN} schedule remove --config /srv/www/config/settings.json --user\n`);
    for (const u of units) await fs.writeFile(path.join(dir, u.name), u.text);
    expect(await verify(dir, units.map((u) => u.name))).toEqual({ code: 0, output: '' });
  });

  it('two settings files: two distinct sets of units', () => {
    const a = systemdUnits(target('/srv/a/config/settings.json', '/srv/a', 'daily', 'web'), now);
    const b = systemdUnits(target('/srv/b/config/settings.json', '/srv/b', 'daily', 'web'), now);
    expect(a[0]!.name).not.toBe(b[0]!.name);
  });

  it.each([
    ['a newline in the settings path', target('/srv/a\nb.json', '/srv'), /the settings file "\/srv\/a\\nb\.json" has a control character/],
    ['a tab in the folder', target('/srv/a.json', '/srv/x\ty'), /the working folder .* has a control character/],
    ['a folder ending in a blank', target('/srv/a.json', '/srv/x '), /ends with a blank or a backslash/],
  ])('refuses %s', (_what, t, message) => {
    expect(() => systemdUnits(t, now)).toThrow(message);
  });
});
