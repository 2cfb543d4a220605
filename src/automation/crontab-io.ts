/**
 * Reading and writing the user's crontab through the `crontab` program
 * (`crontab -l`, `crontab -` with the new text on stdin), so cron itself
 * checks and installs it. The program is injectable (BACKUP_CRONTAB) for
 * tests and for machines where it lives elsewhere.
 */
import { execFile, spawn } from 'node:child_process';
import { BackupError } from '../errors.js';

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
      reject(new BackupError(`\`${options.program} -l\` failed: ${(stderr || error.message).trim()}`, { code: 'SCHEDULE_FAILED', cause: error }));
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
      else reject(new BackupError(`\`${options.program} -\` refused the new crontab (exit ${code}): ${stderr.trim()}`, { code: 'SCHEDULE_FAILED' }));
    });
    child.stdin.on('error', () => {
      // The exit code says what went wrong.
    });
    child.stdin.end(text);
  });
}
