/**
 * What a run leaves behind (beginRun / finish): start and end records in a
 * real history file, the run's events (a recording sender stands in for the
 * channels, which have their own tests), the incident it opens or closes,
 * and the disk-full hint.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { beginRun, diskFullHint, eventOf, outcomeOf, roundSize, triggerFrom, type SendNotifications } from '../../src/automation/run-report.js';
import { readHistory } from '../../src/automation/history.js';
import { readAlertState } from '../../src/automation/alert-state.js';
import { jobRef } from '../../src/automation/job.js';
import type { NotifyChannel } from '../../src/config/notify-schema.js';
import type { NotifyEvent } from '../../src/automation/types.js';
import type { Logger } from '../../src/log/logger-types.js';

const channels: NotifyChannel[] = [{ type: 'slack', urlEnv: 'SLACK_URL' }, { type: 'healthchecks', urlEnv: 'HC_URL' }];

function recorder(ok = true): { send: SendNotifications; events: NotifyEvent[] } {
  const events: NotifyEvent[] = [];
  return {
    events,
    send: async (list, event) => {
      events.push(event);
      return list.map((c) => ({ channel: c.name ?? c.type, type: c.type, event: event.event, ok, ...(ok ? {} : { error: 'HTTP 500' }) }));
    },
  };
}

function memoryLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug: () => undefined, info: () => undefined, error: () => undefined, warn: (m: string) => void warnings.push(m) };
}

async function setup() {
  const dir = await tempDir();
  const job = jobRef({ settingsFile: path.join(dir, 'config/settings.json'), jobName: 'www', sources: [], nameTemplate: '', logFile: path.join(dir, 'logs/backup.log') });
  let clock = new Date('2026-11-28T02:30:00.000Z').getTime();
  const now = (): Date => new Date((clock += 1000));
  return { dir, job, now };
}

describe('outcome, event and trigger', () => {
  it.each([
    [0, 'ok', 'scheduled', 'success'],
    [3, 'warning', 'cli', 'warning'],
    [1, 'failed', 'cli', 'failure'],
    [2, 'failed', 'daemon', 'failure'],
    [130, 'cancelled', 'cli', null],
    [130, 'cancelled', 'wizard', null],
    // Cancelled by whoever (a person, the daemon stopped, a shutdown): no alert; a missed backup shows up as late.
    [130, 'cancelled', 'scheduled', null],
    [130, 'cancelled', 'daemon', null],
  ] as const)('exit %i -> %s; trigger %s sends %s', (code, outcome, trigger, event) => {
    expect(outcomeOf(code)).toBe(outcome);
    expect(eventOf(outcomeOf(code), trigger)).toBe(event);
  });

  it('BACKUP_TRIGGER says scheduled or daemon; anything else is the person', () => {
    expect(triggerFrom({ BACKUP_TRIGGER: 'scheduled' })).toBe('scheduled');
    expect(triggerFrom({ BACKUP_TRIGGER: 'daemon' })).toBe('daemon');
    expect(triggerFrom({ BACKUP_TRIGGER: 'nonsense' })).toBe('cli');
    expect(triggerFrom({}, 'wizard')).toBe('wizard');
  });
});

describe('beginRun / finish', () => {
  it('a failed scheduled run: start and end records, start + failure sent, a failing incident opened as already alerted; the next success sends success + recovered and closes it', async () => {
    const { job, now } = await setup();
    const { send, events } = recorder();
    const options = { job, command: 'run' as const, trigger: 'scheduled' as const, host: 'host1', pid: 4321, now, logger: memoryLogger(), env: {}, channels, send };

    const failing = await beginRun(options);
    let { runs } = await readHistory(job.historyFile);
    expect(runs).toMatchObject([{ id: failing.id, type: 'start', outcome: 'running', job: job.key, jobName: 'www', command: 'run', trigger: 'scheduled', host: 'host1', pid: 4321 }]);
    // This boot's id: a start record left by a run killed in a reboot is known dead afterwards.
    expect(runs[0]!.bootId).toBe((await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
    const result = {
      ok: false,
      exitCode: 1,
      archive: null,
      bytes: 0,
      files: 10,
      skipped: [{ path: 'a', reason: 'x' }],
      destinations: [{ name: 's3', type: 's3', ok: false, location: 's3://b/p/', bytes: 0, error: { code: 'S3_UNREACHABLE', message: 'cannot reach it' } }],
      error: { code: 'S3_UNREACHABLE', message: 'cannot reach it' },
    };
    const end = await failing.finish({ exitCode: 1, result });
    expect(end).toMatchObject({ type: 'end', outcome: 'failed', exitCode: 1, files: 10, skipped: 1, bytes: null, error: { code: 'S3_UNREACHABLE', message: 'cannot reach it' } });
    expect(end.destinations).toEqual([{ name: 's3', type: 's3', ok: false, location: 's3://b/p/', bytes: 0, error: { code: 'S3_UNREACHABLE', message: 'cannot reach it' } }]);
    expect(end.notifications).toEqual([
      { channel: 'slack', type: 'slack', event: 'failure', ok: true },
      { channel: 'healthchecks', type: 'healthchecks', event: 'failure', ok: true },
    ]);
    expect(events.map((e) => e.event)).toEqual(['start', 'failure']);
    expect(events[1]).toMatchObject({ job: 'www', host: 'host1', run: { id: failing.id, outcome: 'failed' }, result: { exitCode: 1 } });
    let state = await readAlertState(job.alertStateFile);
    expect(state.jobs[job.key]?.incident).toMatchObject({ kind: 'failing', since: end.end, alertedAt: end.end });

    // Failing again: the run says so, the incident stays the first one.
    const again = await beginRun(options);
    await again.finish({ exitCode: 1, result });
    state = await readAlertState(job.alertStateFile);
    expect(state.jobs[job.key]?.incident).toMatchObject({ kind: 'failing', since: end.end });

    events.length = 0;
    const ok = await beginRun(options);
    const okEnd = await ok.finish({ exitCode: 0, result: { ok: true, exitCode: 0, archive: 'backups/www.tar.gz', bytes: 2_100_000_000, files: 12, skipped: [], destinations: [{ name: 'local', type: 'local', ok: true, location: '/b/www.tar.gz', bytes: 2_100_000_000, error: null }], error: null } });
    expect(events.map((e) => e.event)).toEqual(['start', 'success', 'recovered']);
    expect(events[2]!.reason).toMatch(/^failing since 2026-11-28 02:30 UTC$/);
    expect(okEnd).toMatchObject({ outcome: 'ok', archive: 'backups/www.tar.gz', bytes: 2_100_000_000, files: 12, skipped: 0, error: null });
    expect((await readAlertState(job.alertStateFile)).jobs[job.key]?.incident).toBeNull();
    ({ runs } = await readHistory(job.historyFile));
    expect(runs.map((r) => r.outcome)).toEqual(['failed', 'failed', 'ok']);
  });

  it('a person cancelling sends nothing and changes no incident; prune and verify send nothing at all', async () => {
    const { job, now } = await setup();
    const { send, events } = recorder();
    const base = { job, host: 'h', pid: 1, now, logger: memoryLogger(), env: {}, channels, send };
    const cancelled = await beginRun({ ...base, command: 'run', trigger: 'cli' });
    expect((await cancelled.finish({ exitCode: 130, error: { code: 'CANCELLED', message: 'Backup cancelled' } })).outcome).toBe('cancelled');
    expect(events.map((e) => e.event)).toEqual(['start']);
    const prune = await beginRun({ ...base, command: 'prune', trigger: 'cli' });
    expect(await prune.finish({ exitCode: 1, result: { ok: false, error: { code: 'PRUNE_INCOMPLETE', message: '1 file(s) could not be deleted' } } })).toMatchObject({ command: 'prune', outcome: 'failed', error: { code: 'PRUNE_INCOMPLETE' } });
    expect(events.map((e) => e.event)).toEqual(['start']);
    expect((await readAlertState(job.alertStateFile)).jobs).toEqual({});
  });

  it('a notification that fails is recorded in the end record, never the outcome', async () => {
    const { job, now } = await setup();
    const { send } = recorder(false);
    const logger = memoryLogger();
    const report = await beginRun({ job, command: 'run', trigger: 'scheduled', host: 'h', pid: 1, now, logger, env: {}, channels, send });
    const end = await report.finish({ exitCode: 0, result: { ok: true, exitCode: 0, archive: 'a.tar.gz', bytes: 1, files: 1, skipped: [], destinations: [], error: null } });
    expect(end.outcome).toBe('ok');
    expect(end.notifications?.every((n) => n.ok === false && n.error === 'HTTP 500')).toBe(true);
    const throwing: SendNotifications = async () => {
      throw new Error('not built yet');
    };
    const second = await beginRun({ job, command: 'run', trigger: 'scheduled', host: 'h', pid: 1, now, logger, env: {}, channels, send: throwing });
    expect((await second.finish({ exitCode: 3 })).outcome).toBe('warning');
  });

  it('a history that cannot be written is a warning; finish still resolves', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'logs'), 'a file where the log folder should be');
    const job = jobRef({ sources: ['/data'], nameTemplate: '{source}', logFile: path.join(dir, 'logs/backup.log') });
    const logger = memoryLogger();
    const report = await beginRun({ job, command: 'run', trigger: 'cli', host: 'h', pid: 1, now: () => new Date(), logger, env: {} });
    expect((await report.finish({ exitCode: 0 })).outcome).toBe('ok');
    // Once per run: the start and the end record fail for the same reason.
    expect(logger.warnings.filter((w) => w.startsWith('run history not written'))).toHaveLength(1);
  });

  it('disk full: the hint says where, how much is free and how big the last archive was', async () => {
    const { dir, job, now } = await setup();
    const { send } = recorder();
    const base = { job, command: 'run' as const, trigger: 'scheduled' as const, host: 'h', pid: 1, now, logger: memoryLogger(), env: {}, channels: [], send };
    const good = await beginRun(base);
    await good.finish({ exitCode: 0, result: { archive: 'x.tar.gz', bytes: 2_100_000_000, destinations: [], error: null } });
    const backups = path.join(dir, 'backups');
    await fs.mkdir(backups);
    const full = await beginRun(base);
    const end = await full.finish({
      exitCode: 1,
      result: {
        bytes: 0,
        destinations: [{ name: 'local', type: 'local', ok: false, location: path.join(backups, 'www-1.tar.gz'), bytes: 0, error: { code: 'DISK_FULL', message: 'no space left' } }],
        error: { code: 'DISK_FULL', message: 'no space left on the device' },
      },
    });
    expect(end.error?.hint).toMatch(new RegExp(`^disk full on ${backups}: [\\d.]+ (bytes|kB|MB|GB|TB) free, last archive was 2\\.1 GB$`));
    expect(await diskFullHint(path.join(backups, 'not/yet/made.tar.gz'), null)).toMatch(new RegExp(`^disk full on ${backups}: [\\d.]+ \\S+ free$`));
    expect([roundSize(120_400_000), roundSize(2_100_000_000), roundSize(512)]).toEqual(['120 MB', '2.1 GB', '512 bytes']);
  });
});
