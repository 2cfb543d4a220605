/**
 * Reading and writing the user's crontab through the `crontab` program
 * (`crontab -l`, `crontab -` with the new text on stdin), so cron itself
 * checks and installs it. The program is injectable (BACKUP_CRONTAB) for
 * tests and for machines where it lives elsewhere.
 */
import { execFile, spawn } from 'node:child_process';
import { BackupError } from '../errors.js';

/**
 * "`PROGRAM ARGS` failed (exit 1):" and the program's stderr below it, each
 * line on its own indented line (a multi-line stderr kept readable, never
 * squeezed onto one line).
 */
export function programFailed(what: string, exit: string, stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '');
  return `${what} (${exit})${lines.length > 0 ? ':' : ''}${lines.map((line) => `\n    ${line}`).join('')}`;
}

/** `exit 1`, or why it did not run (ENOENT...). */
export function exitOf(error: { code?: unknown; message: string }): string {
  return typeof error.code === 'number' ? `exit ${error.code}` : error.message;
}

export interface CrontabProgram {
  /** The crontab program (default: `crontab` on PATH). */
  program: string;
}

/** The user's crontab; "no crontab for USER" is an empty one. */
export function readCrontab(options: CrontabProgram): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(options.program, ['-l'], { encoding: 'utf8', maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if (/no crontab for/i.test(stderr)) return resolve('');
      reject(new BackupError(programFailed(`\`${options.program} -l\` failed`, exitOf(error), stderr), { code: 'SCHEDULE_FAILED', cause: error }));
    });
  });
}

/** Installs `text` as the user's crontab (`crontab -`). */
export function writeCrontab(options: CrontabProgram, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.program, ['-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (error) => reject(new BackupError(`cannot run ${options.program}: ${error.message}`, { code: 'SCHEDULE_FAILED', cause: error })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new BackupError(programFailed(`\`${options.program} -\` refused the new crontab`, `exit ${code}`, stderr), { code: 'SCHEDULE_FAILED' }));
    });
    child.stdin.on('error', () => {
      // The exit code says what went wrong.
    });
    child.stdin.end(text);
  });
}
