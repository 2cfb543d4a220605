/**
 * The human summary of a run names every copy it made: with several
 * destinations (issue 11), or only remote ones, a person reading it (or a
 * cron mail) learns where each copy went. Tables of results in, lines out.
 */
import { describe, expect, it } from 'vitest';
import { renderHuman } from '../../src/cli/render-result.js';
import type { BackupResult, DestinationOutcome } from '../../src/backup/result.js';

function result(destinations: Array<Partial<DestinationOutcome> & Pick<DestinationOutcome, 'name' | 'type' | 'location'>>, extra: Partial<BackupResult> = {}): BackupResult {
  return {
    ok: true,
    exitCode: 0,
    archive: null,
    format: 'tar.gz',
    requestedFormat: 'tar.gz',
    bytes: 2048,
    sha256: 'ab'.repeat(32),
    files: 3,
    sourceBytes: 4096,
    skipped: [],
    warnings: [],
    s3: null,
    destinations: destinations.map((d) => ({ ok: true, bytes: 2048, error: null, ...d })),
    error: null,
    durationMs: 1200,
    ...extra,
  };
}

const lines = (r: BackupResult): string[] => renderHuman(r, undefined).trimEnd().split('\n');

describe('renderHuman: where the backup went', () => {
  it.each([
    {
      what: 'local + S3 + SFTP (3-2-1): the local archive first, then each remote copy',
      r: result(
        [
          { name: 'local', type: 'local', location: '/srv/x/backups/a.tar.gz' },
          { name: 'cloud', type: 's3', location: 's3://b/host/a.tar.gz' },
          { name: 'sftp', type: 'sftp', location: 'sftp://me@nas:22/backups/a.tar.gz' },
        ],
        { archive: 'backups/a.tar.gz', s3: { bucket: 'b', key: 'host/a.tar.gz' } },
      ),
      want: ['Backup complete: backups/a.tar.gz', '  uploaded to s3://b/host/a.tar.gz (cloud)', '  uploaded to sftp://me@nas:22/backups/a.tar.gz'],
    },
    {
      what: 'an SFTP server alone (no local copy): its location, not "(no copy)"',
      r: result([{ name: 'nas', type: 'sftp', location: 'sftp://me@nas:22/backups/a.tar.gz' }]),
      want: ['Backup complete: sftp://me@nas:22/backups/a.tar.gz'],
    },
    {
      what: 'Azure alone',
      r: result([{ name: 'azure', type: 'azure', location: 'https://acct.blob.core.windows.net/c/a.tar.gz' }]),
      want: ['Backup complete: https://acct.blob.core.windows.net/c/a.tar.gz'],
    },
    {
      what: 'two folders: the second is named as a copy',
      r: result(
        [
          { name: 'here', type: 'local', location: '/p/backups/a.tar.gz' },
          { name: 'usb', type: 'local', location: '/mnt/usb/a.tar.gz' },
        ],
        { archive: 'backups/a.tar.gz' },
      ),
      want: ['Backup complete: backups/a.tar.gz', '  copied to /mnt/usb/a.tar.gz (usb)'],
    },
    {
      what: 'a remote listed before the folder: the folder still comes first',
      r: result(
        [
          { name: 's3', type: 's3', location: 's3://b/a.tar.gz' },
          { name: 'local', type: 'local', location: '/p/backups/a.tar.gz' },
        ],
        { archive: 'backups/a.tar.gz', s3: { bucket: 'b', key: 'a.tar.gz' } },
      ),
      want: ['Backup complete: backups/a.tar.gz', '  uploaded to s3://b/a.tar.gz'],
    },
    {
      what: 'the older result shape without a destination list: archive and S3 object',
      r: result([], { archive: 'backups/a.tar.gz', s3: { bucket: 'b', key: 'a.tar.gz' } }),
      want: ['Backup complete: backups/a.tar.gz', '  uploaded to s3://b/a.tar.gz'],
    },
  ])('$what', ({ r, want }) => {
    expect(lines(r).slice(0, want.length)).toEqual(want);
    expect(lines(r)[want.length]).toMatch(/^ {2}2\.0 KiB tar\.gz, 3 files/);
  });

  it('a dry run names every destination it would write to', () => {
    const r = result(
      [
        { name: 'local', type: 'local', location: '/p/backups/a.tar.gz' },
        { name: 'nas', type: 'sftp', location: 'sftp://me@nas:22/b/a.tar.gz' },
        { name: 'cloud', type: 'azure', location: 'https://acct.blob.core.windows.net/c/a.tar.gz' },
      ],
      { archive: 'backups/a.tar.gz', dryRun: true },
    );
    expect(lines(r)[0]).toBe(
      'Dry run: would write backups/a.tar.gz and sftp://me@nas:22/b/a.tar.gz and https://acct.blob.core.windows.net/c/a.tar.gz (tar.gz) from 3 files, 4.0 KiB. Nothing was written.',
    );
  });

  it('a control character in a location is escaped, not printed raw', () => {
    const r = result([{ name: 'nas', type: 'sftp', location: 'sftp://me@nas:22/b/\u001b[2Ja.tar.gz' }]);
    expect(renderHuman(r, undefined)).not.toContain('\u001b');
  });
});
