/**
 * The SSH session's timeout (AnswerWatchdog): it fires only when requests
 * are waiting and no answer at all came for the timeout. A request queued
 * behind many others on a slow link (answered late, while the ones before
 * it are answered) does not time the session out. Fake timers: no waiting.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AnswerWatchdog } from '../../src/storage/sftp-watchdog.js';

const TIMEOUT = 60_000;

describe('AnswerWatchdog', () => {
  let fired: number;
  let dog: AnswerWatchdog;
  beforeEach(() => {
    vi.useFakeTimers();
    fired = 0;
    dog = new AnswerWatchdog(TIMEOUT, () => fired++);
  });
  afterEach(() => {
    dog.stop();
    vi.useRealTimers();
  });

  it('a slow uplink: 32 WRITEs sent at once, answered one every 5 s (the last after 160 s): never fires', () => {
    for (let i = 0; i < 32; i++) dog.sent();
    for (let i = 0; i < 32; i++) {
      vi.advanceTimersByTime(5_000);
      dog.answered();
      // As one is answered the writer sends the next one (the window stays full).
      if (i < 20) dog.sent();
    }
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(5_000);
      dog.answered();
    }
    expect(dog.waiting).toBe(0);
    vi.advanceTimersByTime(10 * TIMEOUT);
    expect(fired).toBe(0);
  });

  it('requests waiting and no answer at all for the timeout: fires once, not before', () => {
    dog.sent();
    dog.sent();
    vi.advanceTimersByTime(TIMEOUT - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(10 * TIMEOUT);
    expect(fired).toBe(1);
  });

  it('the clock restarts at every answer: silence after the last answer counts, not the age of the oldest request', () => {
    dog.sent();
    dog.sent();
    vi.advanceTimersByTime(50_000);
    dog.answered(); // one left waiting, sent 50 s ago
    vi.advanceTimersByTime(TIMEOUT - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });

  it('nothing waiting: never fires (an idle session is watched by keepalives); waiting starts at the next request', () => {
    dog.sent();
    vi.advanceTimersByTime(10_000);
    dog.answered();
    vi.advanceTimersByTime(5 * TIMEOUT);
    expect(fired).toBe(0);
    dog.sent();
    vi.advanceTimersByTime(TIMEOUT - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });

  it('stopped (the session died): never fires', () => {
    dog.sent();
    dog.stop();
    vi.advanceTimersByTime(5 * TIMEOUT);
    expect(fired).toBe(0);
  });
});
