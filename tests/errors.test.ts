import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArchiveError, BackupError, CancelledError, ConfigError, DestinationError, ERROR_CODES, ExitCode, LockedError, UsageError, toBackupError, type ErrorCode } from '../src/errors.js';
import { PROJECT_ROOT } from './helpers/cli.js';

describe('ERROR_CODES: one table of codes and exit codes', () => {
  it('every error takes its exit code from the table', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) expect(new BackupError('x', { code }).exitCode).toBe(ERROR_CODES[code].exit);
    expect(new UsageError('x').exitCode).toBe(ExitCode.usage);
    expect(new UsageError('x', { code: 'SOURCE_NOT_FOUND' }).code).toBe('SOURCE_NOT_FOUND');
    expect(new ConfigError('f', 'x').exitCode).toBe(ExitCode.usage);
    expect(new CancelledError().exitCode).toBe(ExitCode.cancelled);
    expect(new DestinationError('x', { code: 'DISK_FULL' }).exitCode).toBe(ExitCode.failed);
    expect(new ArchiveError('x').code).toBe('ARCHIVE_FAILED');
    expect(new LockedError('f', 'x').exitCode).toBe(ExitCode.failed);
    expect(toBackupError(new Error('boom'))).toMatchObject({ code: 'INTERNAL', exitCode: ExitCode.failed });
  });

  it('only the documented exit codes, and every code the README names is in the table', () => {
    for (const { exit } of Object.values(ERROR_CODES)) expect([ExitCode.failed, ExitCode.usage, ExitCode.cancelled]).toContain(exit);
    const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const paragraph = readme.slice(readme.indexOf('Codes include'), readme.indexOf('ERROR_CODES'));
    const named = new Set([...paragraph.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
    expect(named.size).toBeGreaterThan(10);
    for (const code of named) expect(Object.keys(ERROR_CODES), code).toContain(code);
  });
});
