/**
 * When an SSH session gives up on its server: requests are waiting and NO
 * answer at all has come for the timeout. Not the age of one request: on a
 * slow uplink the WRITE requests queue behind the channel window (32 x 64
 * KiB in flight is ~2 MiB, over a minute below ~280 kbit/s), so the last
 * one's answer comes long after it was sent while the server keeps
 * answering the earlier ones. Every answer restarts the clock; a session
 * with nothing pending is never timed out (keepalives watch the idle link).
 */
export class AnswerWatchdog {
  private pending = 0;
  private lastAnswer = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: () => void,
  ) {}

  /** A request was sent: an answer is now expected. */
  sent(): void {
    if (this.stopped) return;
    // Waiting starts now: time spent idle before does not count.
    if (this.pending === 0) this.lastAnswer = Date.now();
    this.pending++;
    this.arm(this.timeoutMs);
  }

  /** An answer (success or error) came for one request. */
  answered(): void {
    if (this.stopped) return;
    this.lastAnswer = Date.now();
    if (this.pending > 0) this.pending--;
    if (this.pending === 0) this.disarm();
  }

  get waiting(): number {
    return this.pending;
  }

  /** The session is gone: nothing more is watched. */
  stop(): void {
    this.stopped = true;
    this.pending = 0;
    this.disarm();
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.check(), ms);
    // A watchdog alone never keeps the process alive.
    this.timer.unref?.();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    this.timer = undefined;
    if (this.stopped || this.pending === 0) return;
    const silent = Date.now() - this.lastAnswer;
    if (silent >= this.timeoutMs) {
      this.stop();
      this.onTimeout();
    } else this.arm(this.timeoutMs - silent);
  }
}
