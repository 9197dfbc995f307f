/**
 * The wait for a host that has not answered yet (still booting, its WinRM service starting):
 * every request of one pool that waits shares one report, made when the wait begins and then
 * every WAIT_REPORT_EVERY_MS while any of them still waits, so a five-minute wait is never
 * silent and ten waiting resources do not print ten lines.
 */
import { formatLimit, type LimitName } from "../../errors";
import { type Clock, unrefTimer } from "../wait-queue";

/** What the caller is told while the client waits for the host. */
export interface WaitProgress {
  /** host:port as the client reaches it. */
  host: string;
  /** What the last attempt met: ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, HTTP 503, ... */
  reason: string;
  /** How long the wait has lasted. */
  waitedMs: number;
  /** How long it may last (the ready timeout). */
  limitMs: number;
}

/** The longest silence while waiting for a host. */
export const WAIT_REPORT_EVERY_MS = 10_000;

export class HostWait {
  private waiting = 0;
  private since = 0;
  private reason = "";
  private timer: unknown;

  constructor(
    private readonly clock: Clock,
    private readonly host: string,
    private readonly limitMs: number,
    private readonly report: ((progress: WaitProgress) => void) | undefined,
  ) {}

  /** A request's attempt failed before reaching the host; it will try again. */
  enter(reason: string): void {
    this.reason = reason;
    if (this.waiting++ > 0) return;
    this.since = this.clock.now();
    this.emit();
    this.schedule();
  }

  /** A waiting request's latest attempt failed too. */
  update(reason: string): void {
    this.reason = reason;
  }

  /** A waiting request got through, or gave up. */
  leave(): void {
    if (--this.waiting > 0) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.report === undefined) return;
    // Each report is due at a whole multiple of the interval from the wait's start, not an
    // interval after the previous one fired: a timer that fires late on a busy machine then
    // does not push every later report back with it.
    const waited = this.clock.now() - this.since;
    const due = (Math.floor(waited / WAIT_REPORT_EVERY_MS) + 1) * WAIT_REPORT_EVERY_MS;
    this.timer = this.clock.setTimeout(() => {
      this.emit();
      this.schedule();
    }, due - waited);
    // A report must not keep a process alive that has nothing else to do.
    unrefTimer(this.timer);
  }

  private emit(): void {
    this.report?.({
      host: this.host,
      reason: this.reason,
      waitedMs: this.clock.now() - this.since,
      limitMs: this.limitMs,
    });
  }
}

/**
 * One line for a person watching: which host, what the last attempt met, how long of how
 * long, in the unit and under the name the person set the limit with.
 */
export function describeWait(progress: WaitProgress, limit: LimitName): string {
  // Whole seconds: a timer that fires a few milliseconds late is not news.
  const waited =
    limit.unit === "s" ? Math.round(progress.waitedMs / 1000) * 1000 : progress.waitedMs;
  return (
    `waiting for ${progress.host} to answer (last attempt: ${progress.reason}): ` +
    `${formatLimit(waited, limit)} of ${formatLimit(progress.limitMs, limit)} (${limit.option})`
  );
}
