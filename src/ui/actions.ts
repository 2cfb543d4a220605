/**
 * The runs, verifies and restores the page started: each a CLI child
 * process (cli-child.ts) with its progress, the last lines it logged and
 * its result, kept after it ends (the last MAX_KEPT) so a page opened later
 * or reloaded sees how it went. A page that goes away changes nothing: the
 * child goes on until it ends or is cancelled.
 */
import { randomUUID } from 'node:crypto';
import { byteProgressParts } from '../cli/byte-progress.js';
import { runProgressParts } from '../cli/progress-bar.js';
import type { ProgressParts } from '../cli/progress-line.js';
import { displayCommand, startCli, type CliChild, type CliLauncher, type ProgressEvent } from './cli-child.js';

export type ActionKind = 'run' | 'verify' | 'restore';

export interface ActionProgress extends ProgressParts {
  phase: ProgressEvent['phase'];
  percent: number;
}

export interface ActionView {
  id: string;
  kind: ActionKind;
  job: string;
  /** What it is about, for people: "backup of www", "verify x.tar.gz on nas". */
  title: string;
  /** The command line that ran (and that a person can type). */
  command: string;
  startedAt: string;
  endedAt: string | null;
  state: 'running' | 'cancelling' | 'done';
  progress: ActionProgress | null;
  exitCode: number | null;
  ok: boolean | null;
  /** The command's --json result. */
  result: Record<string, unknown> | null;
  /** The failure, as the CLI said it. */
  error: { code: string; message: string } | null;
  /** The last lines the command logged. */
  log: string[];
}

export type ActionListener = (event: { type: 'progress' | 'log' | 'done'; action: ActionView; line?: string }) => void;

export const MAX_KEPT = 50;

export function progressOf(event: ProgressEvent): ActionProgress {
  const parts =
    event.phase === 'backup'
      ? runProgressParts(
          { bytes: event.bytes, files: event.files ?? 0, entries: 0, totalBytes: event.totalBytes, totalFiles: event.totalFiles, uploadedBytes: event.uploadedBytes },
          event.seconds,
        )
      : byteProgressParts(event.phase === 'verify' ? 'verifying' : 'restoring', event.bytes, event.totalBytes, event.seconds);
  return { ...parts, phase: event.phase, percent: Math.floor(Math.min(Math.max(parts.fraction, 0), 1) * 100) };
}

interface Action {
  view: ActionView;
  child: CliChild;
  listeners: Set<ActionListener>;
}

export class Actions {
  private readonly actions = new Map<string, Action>();

  constructor(
    private readonly launcher: CliLauncher,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(spec: { kind: ActionKind; job: string; title: string; args: string[] }): ActionView {
    const view: ActionView = {
      id: randomUUID(),
      kind: spec.kind,
      job: spec.job,
      title: spec.title,
      command: displayCommand(spec.args),
      startedAt: this.now().toISOString(),
      endedAt: null,
      state: 'running',
      progress: null,
      exitCode: null,
      ok: null,
      result: null,
      error: null,
      log: [],
    };
    const listeners = new Set<ActionListener>();
    const emit = (type: 'progress' | 'log' | 'done', line?: string): void => {
      for (const listener of listeners) listener({ type, action: view, ...(line !== undefined ? { line } : {}) });
    };
    const child = startCli(
      this.launcher,
      spec.args,
      (event) => {
        view.progress = progressOf(event);
        emit('progress');
      },
      (line) => {
        view.log.push(line);
        if (view.log.length > 100) view.log.shift();
        emit('log', line);
      },
    );
    const action: Action = { view, child, listeners };
    this.actions.set(view.id, action);
    this.forgetOld();
    void child.done.then((outcome) => {
      view.state = 'done';
      view.endedAt = this.now().toISOString();
      view.exitCode = outcome.exitCode;
      view.ok = outcome.exitCode === 0;
      view.result = outcome.json ?? null;
      const error = outcome.json?.error as { code?: unknown; message?: unknown } | null | undefined;
      view.error =
        error && typeof error.code === 'string' && typeof error.message === 'string'
          ? { code: error.code, message: error.message }
          : outcome.problem
            ? { code: 'UI_CHILD', message: outcome.problem }
            : view.ok
              ? null
              : { code: 'FAILED', message: `exit ${outcome.exitCode}` };
      // A complete run is 100 %, whatever the last progress line said before the end.
      if (view.ok && view.progress) view.progress = { ...view.progress, fraction: 1, percent: 100, eta: '0s' };
      emit('done');
      listeners.clear();
    });
    return view;
  }

  get(id: string): ActionView | undefined {
    return this.actions.get(id)?.view;
  }

  list(): ActionView[] {
    return [...this.actions.values()].map((a) => a.view).reverse();
  }

  running(): ActionView[] {
    return this.list().filter((a) => a.state !== 'done');
  }

  /** Cancels as Ctrl-C would; false when there is no such running action. */
  cancel(id: string): boolean {
    const action = this.actions.get(id);
    if (!action || action.view.state === 'done') return false;
    if (action.view.state === 'running') {
      action.view.state = 'cancelling';
      // Every page watching sees it at once (the button goes; the clean-up may take a while: an S3 abort).
      for (const listener of action.listeners) listener({ type: 'progress', action: action.view });
    }
    action.child.cancel();
    return true;
  }

  /** Calls `listener` for what happens next; returns the function that stops it. */
  subscribe(id: string, listener: ActionListener): () => void {
    const action = this.actions.get(id);
    if (!action || action.view.state === 'done') return () => undefined;
    action.listeners.add(listener);
    return () => action.listeners.delete(listener);
  }

  /** The last resort (a second signal to `backup ui`): every running child killed at once. */
  killAll(): void {
    for (const a of this.actions.values()) if (a.view.state !== 'done') a.child.kill();
  }

  /** Cancels every running action and waits for them to end. */
  async stopAll(): Promise<void> {
    const running = [...this.actions.values()].filter((a) => a.view.state !== 'done');
    for (const a of running) a.child.cancel();
    await Promise.all(running.map((a) => a.child.done));
  }

  private forgetOld(): void {
    const done = [...this.actions.values()].filter((a) => a.view.state === 'done');
    for (const a of done.slice(0, Math.max(0, this.actions.size - MAX_KEPT))) this.actions.delete(a.view.id);
  }
}
