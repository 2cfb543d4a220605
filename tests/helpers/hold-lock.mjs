/**
 * A second backup run, as far as the lock is concerned: a real process that
 * calls acquireLock and holds the lock until told to let go.
 *
 *   node hold-lock.mjs <lock module .js> '<AcquireLockOptions as JSON>'
 *
 * It prints one JSON line per event on stdout: {"event":"held",owner,takenOver},
 * {"event":"error",name,code,exitCode,message} (then exits 1),
 * {"event":"warn"|"info",message} from its logger, {"event":"released"}.
 * A line "release" on stdin releases the lock and exits 0; so does stdin
 * closing (the test runner went away).
 *
 * Plain JavaScript because Node 20 cannot run TypeScript: the test hands it
 * src/lifecycle/lock.ts transpiled as is.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [modulePath, optionsJson] = process.argv.slice(2);
const { acquireLock } = await import(pathToFileURL(modulePath).href);
const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const logger = {
  debug: () => undefined,
  info: (message) => say({ event: 'info', message }),
  warn: (message) => say({ event: 'warn', message }),
  error: (message) => say({ event: 'error-log', message }),
};

let lock;
try {
  lock = await acquireLock({ ...JSON.parse(optionsJson), logger });
} catch (error) {
  say({ event: 'error', name: error.name, code: error.code, exitCode: error.exitCode, message: error.message });
  process.exit(1);
}
say({ event: 'held', owner: lock.owner, takenOver: lock.takenOver ?? null });

const release = async () => {
  await lock.release();
  say({ event: 'released' });
  process.exit(0);
};
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'release') void release();
});
lines.on('close', () => void release());
