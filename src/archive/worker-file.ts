/**
 * The compiled file a worker thread starts from. Built (dist/), it sits
 * next to the module that starts the worker. Run from the TypeScript
 * sources (vitest imports src/ directly), there is no .js next to the
 * module; the worker is then the built one in the project's dist/, so tests
 * run the same threads production does (`npm test` builds first). That
 * built worker must come from the same sources as the running module (they
 * exchange messages): a dist/ older than src/ is refused too. A missing or
 * stale file is an error that says to build, never a quiet switch to
 * another code path.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `name` (say './source-reader-worker.js') next to the module at `moduleUrl` (its import.meta.url). */
export function workerFile(name: string, moduleUrl: string): string {
  const module = fileURLToPath(moduleUrl);
  if (!module.endsWith('.ts')) {
    const file = path.resolve(path.dirname(module), name);
    if (!isFile(file)) throw new Error(`The worker thread file ${file} is missing: this installation is incomplete (reinstall, or run npm run build).`);
    return file;
  }
  const src = sourceRoot(module);
  const dist = path.join(path.dirname(src), 'dist');
  const file = path.resolve(dist, path.relative(src, path.dirname(module)), name);
  if (!isFile(file)) throw new Error(`Running from the TypeScript sources, the worker thread needs its built file ${file}, which is missing: run npm run build.`);
  const stale = staleSource(src, dist);
  if (stale) throw new Error(`The built worker threads in ${dist} are older than ${stale}: run npm run build.`);
  return file;
}

function isFile(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** The nearest folder named src above `module`. */
function sourceRoot(module: string): string {
  for (let dir = path.dirname(module); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (path.basename(dir) === 'src') return dir;
  }
  throw new Error(`${module} is not inside a src folder, so there is no dist/ to find its worker in.`);
}

/** Checked once per src folder: the sources do not change under a test run. */
const checked = new Map<string, string | undefined>();

/** A .ts file under `src` whose .js under `dist` is missing or older; undefined when all are built. */
function staleSource(src: string, dist: string): string | undefined {
  if (checked.has(src)) return checked.get(src);
  let stale: string | undefined;
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const source = path.join(entry.parentPath, entry.name);
    const built = path.join(dist, path.relative(src, source)).replace(/\.ts$/, '.js');
    const builtTime = statSync(built, { throwIfNoEntry: false })?.mtimeMs;
    if (builtTime === undefined || builtTime < statSync(source).mtimeMs) {
      stale = source;
      break;
    }
  }
  checked.set(src, stale);
  return stale;
}
