import { describe, expect, it } from 'vitest';
import { failureMessage } from '../../src/cli/command-runner.js';
import { CancelledError, UsageError } from '../../src/errors.js';

describe('failureMessage: "Cancelled" says what was cancelled', () => {
  it.each([
    ['run', new CancelledError(), 'Backup cancelled; partial files were removed.'],
    ['wizard', new CancelledError(), 'Backup cancelled; partial files were removed.'],
    ['verify', new CancelledError(), 'Verify cancelled; the backups not yet read were not checked.'],
    ['restore', new CancelledError(), 'Restore cancelled; the files restored before it are kept.'],
    ['list', new CancelledError(), 'List cancelled.'],
    ['prune', new CancelledError(), 'Prune cancelled; the backups not yet deleted are kept.'],
    ['restore', new CancelledError('Cancelled; nothing was restored.'), 'Restore cancelled; nothing was restored.'],
    ['run', new UsageError('Cancelled is just a word here'), 'Cancelled is just a word here'],
  ])('%s: %s', (command, error, expected) => {
    expect(failureMessage(error, command)).toBe(expected);
  });
});
