/**
 * The wizard's tests' person and terminal: a scripted Prompter that answers
 * like a person (a rejected answer is "retyped" with the next scripted one),
 * and a fake terminal for `wizardCommand`.
 */
import os from 'node:os';
import { PassThrough } from 'node:stream';
import type { Choice, Prompter } from '../../src/cli/wizard.js';
import type { CliIO } from '../../src/cli/io.js';

// ---------------------------------------------------------------------------
// A scripted person.

/** "Press Enter": take the prompt's default. */
export const ENTER = Symbol('enter');
/** Something that happens in the world between two answers (a file appears, ...). */
export class Act {
  constructor(readonly run: () => Promise<void> | void) {}
}
export type Scripted = string | boolean | typeof ENTER | Error | Act;

export interface Asked {
  kind: 'input' | 'select' | 'confirm' | 'password';
  message: string;
  default?: unknown;
  choices?: Array<Choice<unknown>>;
}

export class ScriptedPrompter implements Prompter {
  /** Every question, in the order asked. */
  readonly asked: Asked[] = [];
  /** Answers the prompt's `validate` refused: what was typed and what the prompt said. */
  readonly rejected: Array<{ message: string; typed: string; problem: string }> = [];

  constructor(private readonly answers: Scripted[]) {}

  /** Scripted answers nobody asked for (a test ends with this empty). */
  get unused(): Scripted[] {
    return [...this.answers];
  }

  private async next(message: string): Promise<Exclude<Scripted, Error | Act>> {
    let answer = this.answers.shift();
    while (answer instanceof Act) {
      await answer.run();
      answer = this.answers.shift();
    }
    if (answer === undefined) throw new Error(`no scripted answer left for the prompt "${message}"`);
    if (answer instanceof Error) throw answer;
    return answer;
  }

  async input(config: Parameters<Prompter['input']>[0]): Promise<string> {
    this.asked.push({ kind: 'input', message: config.message, default: config.default });
    for (;;) {
      const answer = await this.next(config.message);
      if (typeof answer === 'boolean') throw new Error(`scripted ${answer} for the text prompt "${config.message}"`);
      // Like @inquirer/input: an empty line takes the default.
      const typed = answer === ENTER || answer === '' ? (config.default ?? '') : answer;
      const verdict = config.validate ? await config.validate(typed) : true;
      if (verdict === true) return typed;
      this.rejected.push({ message: config.message, typed, problem: verdict === false ? '(refused without a message)' : verdict });
    }
  }

  /** Like input without a default; what is typed is never recorded in `rejected` (a secret). */
  async password(config: Parameters<Prompter['password']>[0]): Promise<string> {
    this.asked.push({ kind: 'password', message: config.message });
    for (;;) {
      const answer = await this.next(config.message);
      if (typeof answer !== 'string') throw new Error(`scripted ${String(answer)} for the password prompt "${config.message}"`);
      const verdict = config.validate ? await config.validate(answer) : true;
      if (verdict === true) return answer;
      this.rejected.push({ message: config.message, typed: '(hidden)', problem: verdict === false ? '(refused without a message)' : verdict });
    }
  }

  async select<T>(config: { message: string; choices: Array<Choice<T>>; default?: T }): Promise<T> {
    this.asked.push({ kind: 'select', message: config.message, default: config.default, choices: config.choices });
    const answer = await this.next(config.message);
    if (answer === ENTER) {
      if (config.default === undefined) throw new Error(`"${config.message}" has no default`);
      return config.default;
    }
    const choice = config.choices.find((c) => c.value === answer);
    if (!choice) throw new Error(`scripted ${String(answer)} is not a choice of "${config.message}"`);
    return choice.value;
  }

  async confirm(config: { message: string; default?: boolean }): Promise<boolean> {
    this.asked.push({ kind: 'confirm', message: config.message, default: config.default });
    const answer = await this.next(config.message);
    if (answer === ENTER) return config.default ?? false;
    if (typeof answer !== 'boolean') throw new Error(`scripted "${String(answer)}" for the yes/no prompt "${config.message}"`);
    return answer;
  }
}

/** A Prompter that fails the test if the wizard asks anything. */
export const refusingPrompter: Prompter = {
  input: () => Promise.reject(new Error('input() must not be called')),
  select: () => Promise.reject(new Error('select() must not be called')),
  confirm: () => Promise.reject(new Error('confirm() must not be called')),
  password: () => Promise.reject(new Error('password() must not be called')),
};

/** The answers to the steps after the save: not scheduled, no alert channel. */
export const NO_AUTOMATION: Scripted[] = [false, 'none'];

export function promptExit(name: 'ExitPromptError' | 'AbortPromptError'): Error {
  const error = new Error('User force closed the prompt with 0 null');
  error.name = name;
  return error;
}

// ---------------------------------------------------------------------------
// A fake terminal.

export const NOW = new Date(2026, 10, 26, 2, 0, 0);

export interface FakeTerminal {
  io: CliIO;
  stdout: () => string;
  stderr: () => string;
}

export function fakeTerminal(cwd: string, isTTY: boolean | undefined, now = NOW): FakeTerminal {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (isTTY !== undefined) stdin.isTTY = isTTY;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  return {
    io: {
      stdin,
      stdout,
      stderr,
      // No crontab program: the wizard never offers to install into this machine's real crontab.
      env: { ...process.env, BACKUP_CRONTAB: '/nonexistent/crontab' },
      cwd,
      signal: new AbortController().signal,
      now: () => now,
      host: 'testhost',
      home: os.homedir(),
    },
    stdout: () => out,
    stderr: () => err,
  };
}

