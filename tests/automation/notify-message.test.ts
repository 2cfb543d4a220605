/** The text of a notification (pure): subject, one-line summary, body. */
import { describe, expect, it } from 'vitest';
import { buildMessage } from '../../src/automation/notify/message.js';
import { transportTls } from '../../src/automation/notify/email.js';
import { slackPayload } from '../../src/automation/notify/slack.js';
import { healthchecksUrl } from '../../src/automation/notify/healthchecks.js';
import { webhookPayload } from '../../src/automation/notify/webhook.js';
import type { HistoryRecord, NotifyEvent } from '../../src/automation/types.js';

const run: HistoryRecord = {
  v: 1,
  type: 'end',
  id: 'r-1',
  job: 'config:/srv/www/config/settings.json',
  jobName: 'www',
  command: 'run',
  host: 'host1',
  pid: 1,
  start: '2026-11-30T02:30:00.000Z',
  end: '2026-11-30T03:45:10.000Z',
  outcome: 'warning',
  exitCode: 3,
  archive: '/backups/www-20261130-023000.tar.gz',
  bytes: 1536,
  files: 10,
  skipped: 2,
  destinations: [{ name: 'local', type: 'local', ok: true, location: '/backups/www-20261130-023000.tar.gz', bytes: 1536, error: null }],
  error: null,
};
const at = new Date('2026-12-01T08:00:00Z');

describe('buildMessage', () => {
  it.each<[string, NotifyEvent, string, string]>([
    ['failure', { event: 'failure', job: 'www', host: 'host1', at, run: { ...run, outcome: 'failed', exitCode: 1, error: { code: 'DISK_FULL', message: 'no space left', hint: 'disk full on /backups: 120 MB free, last archive was 2.1 GB' } } }, 'backup FAILED: www on host1', 'backup FAILED: www on host1: no space left (disk full on /backups: 120 MB free, last archive was 2.1 GB)'],
    ['warning', { event: 'warning', job: 'www', host: 'host1', at, run }, 'backup warning: www on host1 (2 items skipped)', 'backup warning: www on host1 (2 items skipped): www-20261130-023000.tar.gz (1.5 KiB)'],
    ['success', { event: 'success', job: 'www', host: 'host1', at, run: { ...run, skipped: 0, outcome: 'ok', exitCode: 0 } }, 'backup ok: www on host1', 'backup ok: www on host1: www-20261130-023000.tar.gz (1.5 KiB)'],
    ['late', { event: 'late', job: 'www', host: 'host1', at, reason: 'no successful run since 2026-11-28 02:30 UTC, expected every 24 h' }, 'backup late: www on host1 (no successful run since 2026-11-28 02:30 UTC, expected every 24 h)', 'backup late: www on host1 (no successful run since 2026-11-28 02:30 UTC, expected every 24 h)'],
    ['recovered', { event: 'recovered', job: 'www', host: 'host1', at, reason: 'was late since 2026-11-29 08:00 UTC' }, 'backup recovered: www on host1 (was late since 2026-11-29 08:00 UTC)', 'backup recovered: www on host1 (was late since 2026-11-29 08:00 UTC)'],
    ['test', { event: 'test', job: 'www', host: 'host1', at }, 'backup test message: www on host1', 'backup test message: www on host1'],
    ['names escaped', { event: 'failure', job: 'evil\nFAKE LINE\u001b[2J', host: 'h\u0007', at, run: { ...run, error: { code: 'X', message: 'bad\nline' } } }, 'backup FAILED: evil\\x0aFAKE LINE\\x1b[2J on h\\x07', 'backup FAILED: evil\\x0aFAKE LINE\\x1b[2J on h\\x07: bad\\x0aline'],
  ])('%s', (_name, event, subject, summary) => {
    const message = buildMessage(event);
    expect(message.subject).toBe(subject);
    expect(message.summary).toBe(summary);
    // No control character but the body's own newlines.
    // eslint-disable-next-line no-control-regex
    expect(message.body).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });

  it('a failure body: what a person needs without opening the log', () => {
    const message = buildMessage({
      event: 'failure',
      job: 'www',
      host: 'host1',
      at,
      run: {
        ...run,
        outcome: 'failed',
        exitCode: 1,
        skipped: 0,
        destinations: [
          { name: 'local', type: 'local', ok: false, location: '/backups', error: { code: 'DISK_FULL', message: 'no space left on /backups' } },
          { name: 's3', type: 's3', ok: true, location: 's3://b/www.tar.gz', error: null },
        ],
        error: { code: 'DISK_FULL', message: 'no space left on /backups', hint: 'disk full on /backups: 120 MB free, last archive was 2.1 GB' },
      },
    });
    expect(message.body).toBe(
      [
        'Backup FAILED: www on host1',
        '',
        'Job:      www',
        'Host:     host1',
        'When:     2026-11-30 02:30:00 UTC (took 1h15m)',
        'Error:    no space left on /backups [DISK_FULL]',
        'Hint:     disk full on /backups: 120 MB free, last archive was 2.1 GB',
        'Archive:  www-20261130-023000.tar.gz (1.5 KiB, 10 files)',
        'Destinations:',
        '  local  FAILED  /backups: no space left on /backups',
        '  s3     ok      s3://b/www.tar.gz',
        'Exit code: 1',
        '',
      ].join('\n'),
    );
  });

  it('a late body says why and where to look', () => {
    const message = buildMessage({ event: 'late', job: 'www', host: 'host1', at, reason: 'no successful run since 2026-11-28 02:30 UTC, expected every 24 h' });
    expect(message.body).toContain('Checked:  2026-12-01 08:00:00 UTC\nWhy:      no successful run since 2026-11-28 02:30 UTC, expected every 24 h\n');
    expect(message.body).toContain('`backup status`');
  });

  it('reads the --json result when there is no history record', () => {
    const message = buildMessage({
      event: 'failure',
      job: 'www',
      host: 'host1',
      at,
      result: { archive: 'backups/x.zip', bytes: 2048, files: 3, durationMs: 65000, skipped: [], error: { code: 'DESTINATION_FAILED', message: 'cannot write' }, destinations: [] },
    });
    expect(message.body).toContain('When:     2026-12-01 08:00:00 UTC (took 1m05s)');
    expect(message.body).toContain('Archive:  x.zip (2.0 KiB, 3 files)');
    expect(message.summary).toBe('backup FAILED: www on host1: cannot write');
  });
});

describe('channel payloads', () => {
  it('slack: bold subject, the body, and &, <, > escaped (no links or mentions from names)', () => {
    const payload = slackPayload(buildMessage({ event: 'failure', job: '<!channel> & co', host: 'host1', at, run: { ...run, error: { code: 'X', message: 'a <b> c' } } }));
    expect(payload.text.split('\n')[0]).toBe('*backup FAILED: &lt;!channel&gt; &amp; co on host1*');
    expect(payload.text).toContain('Error:    a &lt;b&gt; c [X]');
  });

  it.each([
    ['start', 'https://hc-ping.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/start?rid=8a1c3f7e-2b4d-4e5f-9a6b-7c8d9e0f1a2b'],
    ['success', 'https://hc-ping.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0?rid=8a1c3f7e-2b4d-4e5f-9a6b-7c8d9e0f1a2b'],
    ['warning', 'https://hc-ping.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0?rid=8a1c3f7e-2b4d-4e5f-9a6b-7c8d9e0f1a2b'],
    ['failure', 'https://hc-ping.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/fail?rid=8a1c3f7e-2b4d-4e5f-9a6b-7c8d9e0f1a2b'],
    ['test', 'https://hc-ping.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/log'],
    ['recovered', undefined],
  ] as const)('healthchecks %s -> %s', (kind, expected) => {
    const base = new URL('https://hc-ping.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/');
    const url = healthchecksUrl(base, { event: kind, job: 'www', host: 'h', at, run: { ...run, id: '8a1c3f7e-2b4d-4e5f-9a6b-7c8d9e0f1a2b' } });
    expect(url?.href).toBe(expected);
  });

  it('healthchecks: a run id that is not a UUID is not sent as rid (the service would refuse it)', () => {
    expect(healthchecksUrl(new URL('https://hc.example/ping/abc'), { event: 'success', job: 'w', host: 'h', at, run })?.href).toBe('https://hc.example/ping/abc');
  });

  it('webhook: the result plus job, host, event and a readable text; secrets in it redacted', () => {
    const event: NotifyEvent = { event: 'success', job: 'www', host: 'host1', at, result: { ok: true, archive: 'a.zip', endpoint: 'http://user:pw123456@s3.local' } };
    const payload = webhookPayload(event, buildMessage(event));
    expect(payload).toMatchObject({ ok: true, archive: 'a.zip', job: 'www', host: 'host1', event: 'success', text: 'backup ok: www on host1: a.zip' });
    expect(payload.endpoint).toBe('http://user:[redacted]@s3.local');
  });
});

describe('buildMessage: what the last run says', () => {
  it('late with the last run: when it ran and how it ended, its error', () => {
    const last: HistoryRecord = { ...run, outcome: 'failed', exitCode: 1, error: { code: 'DISK_FULL', message: 'no space left on /backups' } };
    const body = buildMessage({ event: 'late', job: 'www', host: 'host1', at, reason: 'no successful run since 2026-11-28 02:30 UTC', run: last }).body;
    expect(body).toContain('Last run: 2026-11-30 02:30:00 UTC, failed\n');
    expect(body).toContain('Error:    no space left on /backups [DISK_FULL]\n');
    // Not "Exit code: 1" as if the late alert were a run: that run's code is not this message's.
    expect(body).not.toContain('Exit code');
    const ok: HistoryRecord = { ...run, outcome: 'ok', exitCode: 0, files: 1 };
    const lateAfterOk = buildMessage({ event: 'late', job: 'www', host: 'host1', at, reason: 'x', run: ok }).body;
    expect(lateAfterOk).not.toContain('Exit code: 0');
    expect(buildMessage({ event: 'success', job: 'www', host: 'host1', at, run: ok }).body).toMatch(/Archive: .*\(1\.5 KiB, 1 file\)\n/);
  });

  it('a failed run without an archive size of its own shows the size a destination holds', () => {
    const body = buildMessage({
      event: 'failure',
      job: 'www',
      host: 'host1',
      at,
      run: { ...run, bytes: null, destinations: [{ name: 's3', type: 's3', ok: true, location: 's3://b/x', bytes: 3 * 1024 * 1024, error: null }] },
    }).body;
    expect(body).toContain('Archive:  www-20261130-023000.tar.gz (3.0 MiB, 10 files)\n');
  });
});

describe('what leaves the machine is redacted', () => {
  it('a credential quoted in an error or a location never reaches the subject, summary or body', () => {
    const failed: HistoryRecord = {
      ...run,
      outcome: 'failed',
      exitCode: 1,
      error: { code: 'S3_FAILED', message: 'cannot reach http://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@127.0.0.1:1/' },
      destinations: [{ name: 's3', type: 's3', ok: false, location: 'http://user:hunter2-password@minio.lan/bucket', error: { code: 'S3_FAILED', message: 'no' } }],
    };
    const message = buildMessage({ event: 'failure', job: 'www', host: 'host1', at: new Date('2026-11-30T02:31:12Z'), run: failed });
    const all = `${message.subject}\n${message.summary}\n${message.body}`;
    expect(all).not.toContain('wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY');
    expect(all).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(all).not.toContain('hunter2');
    expect(message.body).toContain('[redacted]');
  });
});

describe('SMTP TLS: "auto" with a login requires the upgrade (except a relay on this machine)', () => {
  it.each([
    ['auto', 587, true, 'smtp.example.com', { secure: false, requireTLS: true, ignoreTLS: false }],
    ['auto', 587, false, 'smtp.example.com', { secure: false, requireTLS: false, ignoreTLS: false }],
    ['auto', 587, true, '127.0.0.1', { secure: false, requireTLS: false, ignoreTLS: false }],
    ['auto', 25, true, 'localhost', { secure: false, requireTLS: false, ignoreTLS: false }],
    ['auto', 465, true, 'smtp.example.com', { secure: true, requireTLS: false, ignoreTLS: false }],
    ['starttls', 587, false, '127.0.0.1', { secure: false, requireTLS: true, ignoreTLS: false }],
    ['none', 25, true, 'smtp.example.com', { secure: false, requireTLS: false, ignoreTLS: true }],
  ] as const)('%s port %i login %s host %s', (tls, port, login, host, expected) => {
    expect(transportTls(tls, port, login, host)).toEqual(expected);
  });
});
