/**
 * The programs an installed job calls, read back from its unit or crontab
 * block (for `schedule list`'s "broken: ... is missing"), and the install
 * warnings for programs that may vanish (npx cache, a node version manager).
 */
import { describe, expect, it } from 'vitest';
import { cronPrograms, unitPrograms, vanishingPrograms } from '../../src/automation/install.js';
import { systemdUnits } from '../../src/automation/systemd-units.js';
import { cronBlock } from '../../src/automation/crontab.js';
import { parseSchedule } from '../../src/automation/schedule.js';
import type { InstallTarget } from '../../src/automation/install-target.js';

function target(node: string, bin: string): InstallTarget {
  return { job: { key: 'config:/srv/www/settings.json', name: 'www', settingsFile: '/srv/www/settings.json' }, schedule: parseSchedule('daily 02:30'), workDir: '/srv/www', node, bin };
}

describe('installed programs', () => {
  const awkward: Array<[string, string]> = [
    ['/usr/bin/node', '/srv/www/node_modules/backup-automation/dist/bin.js'],
    ["/opt/my node/bin/node", "/home/o'brien/100% \"done\"/$HOME\\x/dist/bin.js"],
  ];
  for (const [node, bin] of awkward) {
    it(`read back from the service's ExecStart= and the crontab run line: ${bin}`, () => {
      const service = systemdUnits(target(node, bin), new Date('2026-06-10T10:00:00Z'))[0]!.text;
      expect(unitPrograms(service)).toEqual({ node, bin });
      for (const ionice of [true, false]) expect(cronPrograms(cronBlock(target(node, bin), { ionice }))).toEqual({ node, bin });
    });
  }

  it('warns when the program is in the npx cache or node is under a version manager; not for a project or system install', () => {
    expect(vanishingPrograms({ node: '/usr/bin/node', bin: '/srv/www/node_modules/backup-automation/dist/bin.js' })).toEqual([]);
    const npx = vanishingPrograms({ node: '/usr/bin/node', bin: '/root/.npm/_npx/3f2a/node_modules/backup-automation/dist/bin.js' });
    expect(npx).toHaveLength(1);
    expect(npx[0]).toMatch(/npx's cache.*Install the tool in the project \(`npm install backup-automation`.*node_modules\/\.bin\) or globally/);
    for (const [folder, manager] of [['.nvm/versions/node/v20.11.0', 'nvm'], ['.fnm/node-versions/v20', 'fnm'], ['.volta/tools/image/node/20', 'Volta'], ['.asdf/installs/nodejs/20', 'asdf']]) {
      const warnings = vanishingPrograms({ node: `/home/ann/${folder}/bin/node`, bin: '/srv/www/node_modules/backup-automation/dist/bin.js' });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`managed by ${manager}: upgrading or removing that node version removes it`);
    }
  });
});
