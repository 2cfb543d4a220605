/**
 * Every --help ends with examples and the exit codes.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import type { CliIO } from '../../src/cli/io.js';

async function help(argv: string[]): Promise<{ code: number; stdout: string }> {
  const stdout = new PassThrough();
  let text = '';
  stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  const io: CliIO = {
    stdin: new PassThrough(),
    stdout,
    stderr: new PassThrough(),
    env: {},
    cwd: '/nonexistent',
    signal: new AbortController().signal,
    now: () => new Date(),
    host: 'h',
    home: '/nonexistent',
  };
  const code = await main(argv, io);
  return { code, stdout: text };
}

describe('--help', () => {
  it.each([[[]], [['wizard']], [['run']], [['list']], [['verify']], [['restore']], [['prune']], [['schedule']], [['schedule', 'install']], [['schedule', 'list']], [['status']], [['daemon']], [['notify', 'test']]])('backup %j --help: examples and exit codes', async (command) => {
    const { code, stdout } = await help([...command, '--help']);
    expect(code).toBe(0);
    const examples = stdout.slice(stdout.indexOf('\nExamples:\n'));
    expect(examples).toMatch(/^\nExamples:\n(  \$ backup.*\n){2,3}\nExit codes:\n/);
    for (const exit of ['0', '2', '130']) expect(stdout).toMatch(new RegExp(`\\n +${exit}  \\S`));
    // Every example uses the command it documents.
    for (const line of examples.split('\n').filter((l) => l.startsWith('  $ '))) {
      expect(line).toMatch(new RegExp(`^  \\$ backup${command[0] && command[0] !== 'wizard' ? ` ${command[0]}\\b` : ''}`));
    }
  });
});
