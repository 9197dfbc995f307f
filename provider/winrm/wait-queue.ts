/**
 * One queue of callers waiting for something another caller gives back (a connection, a
 * shell, an operation slot): first come, first woken; each wait may end at a timeout or when
 * its AbortSignal fires. The clock is injectable so tests can move time instead of sleeping.
 */

/** What a wait reads time from and sets its timer with. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
  clearTimeout: (timer: unknown) => clearTimeout(timer as NodeJS.Timeout),
});

export interface WaitOptions {
  /** Give up waiting after this long: the wait resolves "timeout". */
  timeoutMs?: number;
  /** Abort the wait: it rejects with the signal's reason. */
  signal?: AbortSignal;
}

export type WaitOutcome = "woken" | "timeout";

interface Waiter {
  settle(outcome: WaitOutcome): void;
}

export class WaitQueue {
  private readonly waiters: Waiter[] = [];

  constructor(private readonly clock: Clock = systemClock) {}

  /** Callers waiting now. */
  get length(): number {
    return this.waiters.length;
  }

  /** Waits for wakeOne or wakeAll, the timeout, or the signal, whichever comes first. */
  wait(options: WaitOptions = {}): Promise<WaitOutcome> {
    const { timeoutMs, signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<WaitOutcome>((resolve, reject) => {
      let timer: unknown;
      const finish = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        if (timer !== undefined) this.clock.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        settle: (outcome) => {
          finish();
          resolve(outcome);
        },
      };
      const onAbort = () => {
        finish();
        reject(abortReason(signal!));
      };
      this.waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = this.clock.setTimeout(() => waiter.settle("timeout"), Math.max(0, timeoutMs));
      }
    });
  }

  /** Wakes the longest waiting caller; false when nobody waits. */
  wakeOne(): boolean {
    const waiter = this.waiters[0];
    waiter?.settle("woken");
    return waiter !== undefined;
  }

  /** Wakes every caller waiting now. */
  wakeAll(): void {
    for (const waiter of [...this.waiters]) waiter.settle("woken");
  }
}

/** The signal's reason when it is an Error (AbortSignal.abort() gives a DOMException, one). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error("the wait was aborted", { cause: reason });
}

/** Resolves after `ms` on `clock`; rejects with the signal's reason if it fires first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new WaitQueue(clock).wait({ timeoutMs: ms, signal }).then(() => undefined);
}

/** Rejects with the signal's reason once it fires; never settles otherwise. */
export function whenAborted(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(abortReason(signal));
    else signal.addEventListener("abort", () => reject(abortReason(signal)), { once: true });
  });
  aborted.catch(() => undefined); // a caller races it; unobserved when the other side wins
  return aborted;
}

/**
 * A controller that aborts when `signal` does (with its reason), and can also be aborted on
 * its own; `dispose` lets go of `signal` once the work it guarded is over.
 */
export function followSignal(signal: AbortSignal | undefined): {
  controller: AbortController;
  dispose: () => void;
} {
  const controller = new AbortController();
  const forward = () => controller.abort(abortReason(signal!));
  if (signal?.aborted) forward();
  else signal?.addEventListener("abort", forward, { once: true });
  return { controller, dispose: () => signal?.removeEventListener("abort", forward) };
}

/** Lets the process exit while `timer` (from a Clock) is pending; a test clock's has no unref. */
export function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
