/**
 * A clock whose time moves only when the test says so, for the waits and timers of the
 * WaitQueue, the HTTP pool and the client: a test checks what happens at a time without
 * sleeping until it and without asserting elapsed time.
 */
import type { Clock } from "../../provider/winrm/wait-queue";

export interface ManualClock extends Clock {
  /** Moves time on by `ms` and fires, in order, the timers that fall due. */
  advance(ms: number): void;
  /** Timers set and not yet fired or cleared. */
  pending(): number;
  /**
   * Resolves, with how long from now it falls due, once a timer is pending: the code under
   * test has reached a wait. Real I/O may come first, so this polls the event loop.
   */
  nextTimer(options?: { withinMs?: number }): Promise<number>;
}

export function manualClock(): ManualClock {
  let now = 0;
  let next = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const earliest = () => Math.min(...[...timers.values()].map((timer) => timer.at));
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = next++;
      timers.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimeout(timer) {
      timers.delete(timer as number);
    },
    advance(ms) {
      now += ms;
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at > now || !timers.has(id)) continue;
        timers.delete(id);
        timer.callback();
      }
    },
    pending: () => timers.size,
    async nextTimer({ withinMs = 10_000 } = {}) {
      // A real-time bound, so a wait that never comes fails the test instead of hanging it.
      const giveUp = Date.now() + withinMs;
      while (timers.size === 0) {
        if (Date.now() > giveUp) throw new Error(`no timer was set within ${withinMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return earliest() - now;
    },
  };
}
