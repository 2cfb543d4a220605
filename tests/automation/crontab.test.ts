// The only test file that edits root's crontab (saved and restored around
// it): the CLI tests use another user's (crontab -u), so nothing else
// touches this one concurrently.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedule } from '../../src/automation/schedule.js';
import { cronBlock, cronFields, findBlocks, replaceBlock } from '../../src/automation/crontab.js';
import { readCrontab, writeCrontab } from '../../src/automation/crontab-io.js';
import { installName, parseMarker, type InstallTarget } from '../../src/automation/install-target.js';
import { execFileSync } from 'node:child_process';

function target(settingsFile: string, workDir = '/srv/www', schedule = 'daily 02:30', name = 'www'): InstallTarget {
  return { job: { key: `config:${settingsFile}`, name, settingsFile }, schedule: parseSchedule(schedule), workDir, node: '/usr/bin/node', bin: '/opt/backup/dist/bin.js' };
}

describe('cronFields', () => {
  it.each([
    ['daily 02:30', '30 2 * * *'],
    ['hourly :15', '15 * * * *'],
    ['weekly sun 03:00', '0 3 * * 0'],
    ['monthly 15 04:00', '0 4 15 * *'],
    ['*/15 * * * *', '*/15 * * * *'],
    ['5-59/20 * * * *', '5-59/20 * * * *'],
    ['0 9-17 * * mon-fri', '0 9-17 * * 1-5'],
    ['0 3 * jan,jul sat,sun', '0 3 * 1,7 0,6'],
    ['0 0 1 * 0', '0 0 1 * 0'],
    ['0 0 1-31 * 1', '0 0 1-31 * 1'],
    ['0 0 */2 * 1', '0 0 1-31/2 * 1'],
    ['0 0 * * 7', '0 0 * * 0'],
  ])('%s -> %s', (text, fields) => {
    expect(cronFields(parseSchedule(text))).toBe(fields);
  });

  it('refuses a seconds field: cron runs at most once a minute', () => {
    expect(() => cronFields(parseSchedule('*/10 * * * * *'))).toThrow(
      'the schedule "*/10 * * * * *" has a seconds field, and cron runs a line at most once a minute: use --systemd, or `backup daemon`',
    );
  });

  it('refuses L / W / #', () => {
    expect(() => cronFields(parseSchedule('0 0 L * *'))).toThrow(/which cron cannot say/);
  });
});

describe('cronBlock', () => {
  it('the run line and the check line between the markers; quoted, % escaped, ionice only when there', () => {
    const t = target("/srv/my site/50%/it's.json", '/srv/my site');
    const name = installName(t.job);
    const block = cronBlock(t, { ionice: true });
    expect(block.split('\n')).toEqual([
      `# >>> backup-automation ${name} /srv/my site/50%/it's.json >>>`,
      `# backup-automation job="www" config="/srv/my site/50%/it's.json" workdir="/srv/my site" schedule="daily 02:30"`,
      `# stdout goes nowhere, stderr stays: cron mails a failure. Undo: /usr/bin/node /opt/backup/dist/bin.js schedule remove --config '/srv/my site/50%/it'\\''s.json'`,
      `30 2 * * * cd '/srv/my site' && BACKUP_TRIGGER=scheduled nice -n 10 ionice -c3 /usr/bin/node /opt/backup/dist/bin.js run --config '/srv/my site/50\\%/it'\\''s.json' >/dev/null`,
      `17 */6 * * * cd '/srv/my site' && nice -n 10 ionice -c3 /usr/bin/node /opt/backup/dist/bin.js status --alert --config '/srv/my site/50\\%/it'\\''s.json' >/dev/null`,
      `# <<< backup-automation ${name} <<<`,
      '',
    ]);
    expect(parseMarker(block)).toEqual({ job: 'www', config: "/srv/my site/50%/it's.json", workdir: '/srv/my site', schedule: 'daily 02:30' });
    expect(cronBlock(t, { ionice: false })).not.toContain('ionice');
  });

  it('refuses a newline in a path', () => {
    expect(() => cronBlock(target('/srv/a\nb.json'), { ionice: true })).toThrow(/control character/);
  });
});

describe('replaceBlock', () => {
  const a = target('/srv/a/settings.json', '/srv/a');
  const b = target('/srv/b/settings.json', '/srv/b');
  const blockA = cronBlock(a, { ionice: true });
  const blockA2 = cronBlock({ ...a, schedule: parseSchedule('hourly') }, { ionice: true });
  const blockB = cronBlock(b, { ionice: true });
  const nameA = installName(a.job);
  const other = 'MAILTO=ops@example.com\n# my own job\n*/5 * * * * /usr/local/bin/poll  # 100% mine\n';

  it.each([
    ['empty crontab: the block alone', '', blockA],
    ['after the other lines', other, other + blockA],
    ['a last line without a newline gets one first', 'X=1', `X=1\n${blockA}`],
    ['replaces its own block in place', `${other}${blockA}0 1 * * * tail\n`, `${other}${blockA2}0 1 * * * tail\n`],
    ['keeps the other job', `${blockB}${other}${blockA}`, `${blockB}${other}${blockA2}`],
  ])('install: %s', (_what, before, after) => {
    const block = before.includes(blockA) ? blockA2 : blockA;
    expect(replaceBlock(before, nameA, block).text).toBe(after);
  });

  it.each([
    ['only its block goes', `${other}${blockA}0 1 * * * tail\n`, `${other}0 1 * * * tail\n`, blockA],
    ['the other job stays', `${blockB}${blockA}`, blockB, blockA],
    ['nothing installed: unchanged', other, other, undefined],
    ['its block was last, without a final newline', `${other}${blockA.slice(0, -1)}`, other, blockA],
  ])('remove: %s', (_what, before, after, removed) => {
    expect(replaceBlock(before, nameA, undefined)).toEqual({ text: after, removed });
  });

  it('finds every block with its marker', () => {
    const found = findBlocks(`${other}${blockA}${blockB}`);
    expect(found.map((f) => [f.settingsFile, f.marker?.workdir])).toEqual([
      ['/srv/a/settings.json', '/srv/a'],
      ['/srv/b/settings.json', '/srv/b'],
    ]);
  });

  it('refuses a block whose end line was deleted', () => {
    expect(() => replaceBlock(`${blockA.split('\n').slice(0, 3).join('\n')}\n`, nameA, blockA)).toThrow(/not its end line; fix it with `crontab -e`/);
  });
});

describe("root's real crontab (Debian cron)", () => {
  const program = { program: 'crontab' };
  let saved: string;
  beforeAll(async () => {
    saved = await readCrontab(program);
  });
  afterAll(async () => {
    if (saved === '') execFileSync('crontab', ['-r'], { stdio: 'ignore' });
    else await writeCrontab(program, saved);
  });

  it('install, reinstall, a second job, remove: the other lines kept byte for byte', async () => {
    const other = '# mine\nMAILTO=""\n*/5 * * * * echo "50\\% done"  >/dev/null\n\n@reboot /usr/local/bin/start\n';
    await writeCrontab(program, other);
    const a = target('/srv/a b/settings.json', '/srv/a b');
    const b = target('/srv/b/settings.json', '/srv/b', 'weekly mon 04:00', 'b');
    const nameA = installName(a.job);
    const nameB = installName(b.job);

    await writeCrontab(program, replaceBlock(await readCrontab(program), nameA, cronBlock(a, { ionice: true })).text);
    expect(await readCrontab(program)).toBe(other + cronBlock(a, { ionice: true }));

    // Reinstall with another schedule: one block, replaced.
    const a2 = { ...a, schedule: parseSchedule('daily 03:45') };
    await writeCrontab(program, replaceBlock(await readCrontab(program), nameA, cronBlock(a2, { ionice: true })).text);
    await writeCrontab(program, replaceBlock(await readCrontab(program), nameB, cronBlock(b, { ionice: false })).text);
    const both = await readCrontab(program);
    expect(both).toBe(other + cronBlock(a2, { ionice: true }) + cronBlock(b, { ionice: false }));
    expect(findBlocks(both).map((f) => f.marker?.schedule)).toEqual(['daily 03:45', 'weekly mon 04:00']);

    const removed = replaceBlock(both, nameA, undefined);
    expect(removed.removed).toBe(cronBlock(a2, { ionice: true }));
    await writeCrontab(program, removed.text);
    expect(await readCrontab(program)).toBe(other + cronBlock(b, { ionice: false }));
  });

  it('a crontab cron refuses is an error that says so', async () => {
    await expect(writeCrontab(program, '61 * * * * x\n')).rejects.toThrow(/refused the new crontab/);
  });
});
