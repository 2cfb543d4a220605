import { describe, expect, it } from 'vitest';
import { validateSettings } from '../../src/config/load-settings.js';
import { ConfigError } from '../../src/errors.js';

describe('settings.json schedule, notify and job', () => {
  it("accepts DESIGN.md's automation example", () => {
    const example = {
      sources: ['./data'],
      job: 'www',
      schedule: 'daily 02:30',
      notify: [
        { type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' },
        {
          type: 'email',
          smtp: { host: 'smtp.example.com', port: 587, passwordEnv: 'SMTP_PASSWORD' },
          from: 'backup@example.com',
          to: ['ops@example.com'],
          on: ['failure', 'late'],
        },
        { type: 'webhook', urlEnv: 'BACKUP_WEBHOOK_URL', on: ['failure', 'warning', 'success'] },
        { type: 'healthchecks', urlEnv: 'HC_PING_URL' },
      ],
    };
    expect(validateSettings(example, 'f')).toEqual(example);
  });

  it.each([
    [{ schedule: 'daily 25:00' }, 'schedule: "daily 25:00": 25:00 is not a time of day (00:00 to 23:59)'],
    [{ schedule: 'sometimes' }, 'schedule: "sometimes" is neither a schedule word nor a cron expression (5 fields, or 6 with seconds); e.g. "daily 02:30", "hourly", "weekly sun 03:00", "monthly 1 04:00" or a cron expression such as "30 2 * * *"'],
    [{ schedule: 5 }, 'schedule: expected a string, got number 5'],
    [{ notify: [{ type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' }] }, 'notify[0].urlEnv: missing: the NAME of the environment variable (or .env entry) that holds the secret, e.g. "urlEnv": "SLACK_WEBHOOK_URL"; the secret itself never goes in settings.json'],
    [{ notify: [{ type: 'slack', urlEnv: 'https://hooks.slack.com/x' }] }, 'notify[0].urlEnv: expected the NAME of an environment variable (letters, digits, _), e.g. SLACK_WEBHOOK_URL; the secret itself goes in the environment or .env, never in settings.json'],
    [{ notify: [{ type: 'pager', urlEnv: 'X' }] }, 'notify[0].type: expected a channel with "type": "slack", "email", "webhook" or "healthchecks"'],
    [{ notify: [{ type: 'webhook', urlEnv: 'X', on: ['failed'] }] }, 'notify[0].on[0]: expected one of "failure", "warning", "success", "late"'],
    [{ notify: [{ type: 'email', smtp: { host: 'h', pasword: 'x', passwordEnv: 'P' }, from: 'a@b.c', to: ['d@e.f'] }] }, 'notify[0].smtp.pasword: unknown setting (did you mean "passwordEnv"?)'],
    [{ notify: [{ type: 'webhook', urlEnv: 'X', ulrEnv: 'Y' }] }, 'notify[0].ulrEnv: unknown setting (did you mean "urlEnv"?)'],
    [{ job: 'a/b' }, 'job: no slashes or control characters'],
  ])('%j -> %s', (data, message) => {
    expect(() => validateSettings(data, 'settings.json')).toThrow(new ConfigError('settings.json', message));
  });
});
