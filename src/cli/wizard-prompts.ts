/**
 * What every group of wizard questions shares: the Prompter (inquirer in the
 * terminal, scripted answers in tests), validators that turn a check into a
 * prompt's `validate`, and the checks of a typed path.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathTextProblem } from '../config/check-paths.js';
import { pseudoFileSystem } from '../fs/ensure-dir.js';

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
}

/** The subset of @inquirer/prompts the wizard uses. */
export interface Prompter {
  input(config: {
    message: string;
    default?: string;
    validate?: (value: string) => boolean | string | Promise<boolean | string>;
  }): Promise<string>;
  select<T>(config: { message: string; choices: Array<Choice<T>>; default?: T }): Promise<T>;
  confirm(config: { message: string; default?: boolean }): Promise<boolean>;
  /** A secret (webhook URL, SMTP password): shown masked while typed, never echoed. */
  password(config: { message: string; mask?: string; validate?: (value: string) => boolean | string | Promise<boolean | string> }): Promise<string>;
}

export const toValidator =
  (check: (value: string) => string | undefined | Promise<string | undefined>) =>
  async (value: string): Promise<true | string> =>
    (await check(value)) ?? true;

/** A prompt validator from a zod-like schema (its first issue's message); `optional`: an empty answer is fine. */
export const schemaValidator =
  (schema: { safeParse(value: unknown): { success: boolean; error?: { issues: Array<{ message: string }> } } }, optional = false) =>
  (value: string): true | string => {
    if (optional && value.trim() === '') return true;
    const parsed = schema.safeParse(value.trim());
    return parsed.success ? true : (parsed.error?.issues[0]?.message ?? 'invalid');
  };

/**
 * A typed path must have text in it: the flags' rule (config's
 * `pathTextProblem`: empty, whitespace only or a NUL byte is refused), worded
 * for a prompt; a line break or other control character is refused too, as
 * no one types one on purpose.
 */
export function checkPathText(value: string, what: string): string | undefined {
  if (value.trim() === '') return `Enter ${what}.`;
  const problem = pathTextProblem(value);
  if (problem !== undefined) return `The ${what.replace(/^(a|an|the) /, '')}: ${problem}.`;
  if (/[\u0000-\u001f\u007f]/.test(value)) return `The ${what.replace(/^(a|an|the) /, '')} contains a control character (a line break or tab?); type the path again.`;
  return undefined;
}

/** Paths that are kernel file systems on every Linux, refused before looking at the disk. */
const VIRTUAL_ROOTS = ['/proc', '/sys'];

export async function checkNotVirtualFs(abs: string): Promise<string | undefined> {
  const under = (root: string, p: string): boolean => p === root || p.startsWith(`${root}/`);
  for (const root of VIRTUAL_ROOTS) {
    if (under(root, abs)) return `${abs} is under ${root}, a kernel filesystem that cannot hold files; choose a folder on a disk.`;
  }
  let probe = abs;
  for (;;) {
    const real = await fs.realpath(probe).catch(() => undefined);
    if (real !== undefined) {
      const leadsTo = path.join(real, path.relative(probe, abs));
      for (const root of VIRTUAL_ROOTS) {
        if (under(root, real)) return `${abs} leads to ${leadsTo}, under ${root}, a kernel filesystem that cannot hold files; choose a folder on a disk.`;
      }
      const type = await pseudoFileSystem(real);
      if (type !== undefined) return `${abs} is on a ${type} filesystem (${real}), which cannot hold files; choose a folder on a disk.`;
      return undefined;
    }
    const parent = path.dirname(probe);
    if (parent === probe) return undefined;
    probe = parent;
  }
}

