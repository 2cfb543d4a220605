/**
 * A job's settings file, read and saved for the settings page, checked by
 * the same parser and schema as every command (config/load-settings.ts,
 * config/schema.ts) with the same messages: every problem, each with its
 * JSON path (`destinations[0].bucket`), where the CLI names the first.
 *
 * Saved only when valid, atomically (fs/write-atomic.ts, the file's mode
 * kept), and only over the version the page was shown (a file changed since,
 * by a person or the wizard, is not overwritten: the page says reload).
 * A file holding a secret the log redaction knows is shown redacted and not
 * editable here (saving the redacted text would destroy it). A settings file
 * that is a symbolic link is not replaced by a file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { ConfigError, describeErrno } from '../errors.js';
import { MAX_SETTINGS_BYTES, parseJson, readSettingsText } from '../config/load-settings.js';
import { SettingsSchema, describeIssue, formatJsonPath } from '../config/schema.js';
import { redactText } from '../log/redact.js';
import { writeFileAtomic } from '../fs/write-atomic.js';

export interface SettingsProblem {
  /** JSON path (`sources[0]`), or null for the file as a whole (not JSON, not an object). */
  path: string | null;
  /** The CLI's message for it. */
  message: string;
}

export interface SettingsView {
  file: string;
  text: string;
  /** Of the text on disk: sent back with a save, which is refused if the file changed since. */
  version: string;
  /** False when the text shown is not the file's (redacted) or the file cannot be replaced. */
  editable: boolean;
  why: string | null;
  problems: SettingsProblem[];
}

export function versionOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Every problem the CLI would find in `text`, in the CLI's words (empty: valid). Pure. */
export function settingsProblems(text: string, file: string): SettingsProblem[] {
  let data: unknown;
  try {
    data = parseJson(text, file);
  } catch (error) {
    return [{ path: null, message: stripFile(error, file) }];
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return [{ path: null, message: 'expected a JSON object ({ ... }) at the top level' }];
  }
  const parsed = SettingsSchema.safeParse(data);
  if (parsed.success) return [];
  return parsed.error.issues.flatMap((issue) =>
    // An unknown key is a problem of that field (`destinations[0].pth`), not of the object that holds it:
    // one problem per key, each at its own path.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: formatJsonPath([...issue.path, key]), message: describeIssue({ ...issue, keys: [key] }, data) }))
      : [{ path: issue.path.length > 0 ? formatJsonPath(issue.path) : null, message: describeIssue(issue, data) }],
  );
}

function stripFile(error: unknown, file: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

export async function readSettingsView(file: string): Promise<SettingsView> {
  const text = await readSettingsText(file);
  const shown = redactText(text);
  const link = (await fs.lstat(file)).isSymbolicLink();
  const why =
    shown !== text
      ? 'This file holds a secret (shown redacted): edit it in a terminal, and move the secret to .env.'
      : link
        ? 'This settings file is a symbolic link: edit the file it points to in a terminal.'
        : null;
  return { file, text: shown, version: versionOf(text), editable: why === null, why, problems: settingsProblems(text, file) };
}

export type SaveOutcome = { ok: true; version: string } | { ok: false; status: 409 | 422; problems: SettingsProblem[] };

export async function saveSettingsText(file: string, text: string, version: string): Promise<SaveOutcome> {
  if (Buffer.byteLength(text) > MAX_SETTINGS_BYTES) return { ok: false, status: 422, problems: [{ path: null, message: 'a settings file is at most 1 MiB' }] };
  const problems = settingsProblems(text, file);
  if (problems.length > 0) return { ok: false, status: 422, problems };
  const current = await readSettingsView(file);
  if (!current.editable) return { ok: false, status: 409, problems: [{ path: null, message: current.why! }] };
  if (current.version !== version) {
    return { ok: false, status: 409, problems: [{ path: null, message: 'The file changed since this page read it (another editor, the wizard): reload to see it, then make your change again.' }] };
  }
  const stat = await fs.stat(file);
  try {
    await writeFileAtomic(file, text, stat.mode & 0o7777);
  } catch (error) {
    throw new ConfigError(file, `cannot save the settings: ${describeErrno(error)}`, { cause: error });
  }
  return { ok: true, version: versionOf(text) };
}
