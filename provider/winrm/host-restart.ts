/**
 * Restarting a host and waiting until it is usable again (issue 17): the Reboot resource's
 * work, written against the client so that it can be tested without the engine.
 *
 * 1. Read the boot time (and, with `when: "pending"`, whether a restart is pending at all).
 * 2. Ask the host to restart with its own mechanism (RemotePower.restart), with a delay of a
 *    few seconds so the reply leaves before WinRM stops.
 * 3. Wait for WinRM to stop answering, or for the boot time to change (a host that restarted
 *    between two probes).
 * 4. Wait, within the time left, for WinRM to answer with a new boot time; then for `ready`
 *    (the user's test) to pass.
 *
 * The client that read the boot time is left to the caller (`onRestartRequested` tells it
 * when to let its connections and shells go: the host forgets every shell in a restart);
 * the waits use clients of their own, from `connect`.
 */
import {
  CommandFailedError,
  ConnectionLostError,
  HostUnreachableError,
  HttpError,
  TimeoutError,
  WSManFault,
} from "../errors";
import type { WinRMClient } from "./client";
import type { RemoteInvocation, RemotePower } from "./scripts";

export interface ReadyCheck {
  ok: boolean;
  /** What the check printed or why it failed, for the progress lines. */
  detail: string;
}

export interface HostRestartOptions {
  /** "always", or "pending": restart only when the host says a restart is pending. */
  when: "always" | "pending";
  /** The whole wait: from the restart request until the host is back and ready. */
  timeoutMs: number;
  /** Noted with the restart (the shutdown comment). */
  message: string;
  /**
   * Run on the host once it is back, within `timeLeftMs`; the host counts as ready when it
   * returns ok.
   */
  ready?: (client: WinRMClient, timeLeftMs: number) => Promise<ReadyCheck>;
  /** One line at each step, and at least every PROGRESS_EVERY_MS while waiting. */
  onProgress?: (line: string) => void;
  /** The host accepted the restart: connections and shells to it are about to go. */
  onRestartRequested?: () => void | Promise<void>;
  /** Between probes while waiting; default 1000 ms. */
  pollMs?: number;
}

export interface HostRestartResult {
  /** When the host booted, after the restart (or now, when none was needed). */
  bootTime: Date;
  previousBootTime: Date;
  rebooted: boolean;
  /** Why the host needed a restart, with `when: "pending"`; empty otherwise. */
  pendingReasons: string[];
  /** From the restart request until the host was back and ready. */
  waitedMs: number;
}

/**
 * A client of its own for a wait: `readyTimeoutMs` is how long it waits for a host that
 * refuses connections before it gives up with HostUnreachableError.
 */
export type ClientFactory = (readyTimeoutMs: number) => WinRMClient;

/** The delay before the host goes down, so that the reply to the request gets out first. */
export const RESTART_DELAY_SECONDS = 2;
/**
 * Two readings of one boot time may differ a little: `uptime -s` derives it from the uptime,
 * to the second. A restart moves it by far more (the time the host was up, then down).
 */
export const BOOT_TIME_TOLERANCE_MS = 1000;
/** The longest silence in the progress while waiting. */
export const PROGRESS_EVERY_MS = 10_000;
/** How long one probe of the boot time may take while the host is still up. */
const PROBE_TIMEOUT_MS = 30_000;
/** Output kept from the power scripts: a line or two. */
const SMALL_OUTPUT = 64 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * A failure of the request to restart that may hide a restart under way: the connection was
 * refused, dropped or timed out, or the service answered with an HTTP error or a WS-Management
 * fault. Anything else (a wrong input, a refused command) means no restart was asked for.
 */
function mayHaveRestarted(error: unknown): boolean {
  return (
    error instanceof HostUnreachableError ||
    error instanceof ConnectionLostError ||
    error instanceof TimeoutError ||
    error instanceof HttpError ||
    error instanceof WSManFault
  );
}

const describeError = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function runPower(
  client: WinRMClient,
  invocation: RemoteInvocation,
  what: string,
  timeoutMs: number,
): Promise<string> {
  const result = await client.run(invocation.command, invocation.args, {
    skipCmdShell: invocation.skipCmdShell,
    maxOutputBytes: SMALL_OUTPUT,
    timeoutMs,
  });
  const stdout = result.stdout.toString("utf8");
  if (result.exitCode !== 0) {
    throw new CommandFailedError(what, result.exitCode, result.stderr.toString("utf8"));
  }
  return stdout;
}

async function bootTimeOf(client: WinRMClient, timeoutMs: number): Promise<Date> {
  const power = (await client.scripts()).power;
  return power.parseBootTime(
    await runPower(client, power.bootTime(), "reading the host's boot time", timeoutMs),
  );
}

function differs(a: Date, b: Date): boolean {
  return Math.abs(a.getTime() - b.getTime()) > BOOT_TIME_TOLERANCE_MS;
}

/** Restarts the host `client` reaches and waits until it is back and ready. */
export async function restartHost(
  client: WinRMClient,
  connect: ClientFactory,
  options: HostRestartOptions,
): Promise<HostRestartResult> {
  const progress = options.onProgress ?? (() => undefined);
  const pollMs = options.pollMs ?? 1000;
  const host = new URL(client.endpoint).host;
  const power: RemotePower = (await client.scripts()).power;
  const previousBootTime = await bootTimeOf(client, PROBE_TIMEOUT_MS);

  let pendingReasons: string[] = [];
  if (options.when === "pending") {
    const listed = await runPower(
      client,
      power.pendingRestart(),
      "asking the host whether a restart is pending",
      PROBE_TIMEOUT_MS,
    );
    pendingReasons = listed
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter(Boolean);
    if (pendingReasons.length === 0) {
      progress(`${host}: no restart is pending; not restarting`);
      return {
        bootTime: previousBootTime,
        previousBootTime,
        rebooted: false,
        pendingReasons,
        waitedMs: 0,
      };
    }
    progress(`${host}: a restart is pending: ${pendingReasons.join("; ")}`);
  }

  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const left = () => deadline - Date.now();
  const timeout = options.timeoutMs;
  try {
    const said = await runPower(
      client,
      power.restart(options.message, RESTART_DELAY_SECONDS),
      "asking the host to restart",
      PROBE_TIMEOUT_MS,
    );
    if (said.trim()) progress(`${host}: ${said.trim()}`);
  } catch (error) {
    if (error instanceof CommandFailedError) {
      throw new CommandFailedError(
        "asking the host to restart (the account needs the right to shut the system down, " +
          "which administrators have)",
        error.exitCode,
        error.stderrTail,
      );
    }
    // The host may have acted before its reply was lost: the wait below tells.
    if (!mayHaveRestarted(error)) throw error;
    progress(`${host}: the reply to the restart request was lost (${(error as Error).message})`);
  }
  progress(
    `${host}: restart requested (booted at ${previousBootTime.toISOString()}); waiting for it to go down`,
  );
  await options.onRestartRequested?.();

  // 3. Until WinRM stops answering, or answers with a new boot time.
  let bootTime: Date | undefined;
  let lastReport = Date.now();
  const probe = connect(0);
  try {
    for (;;) {
      if (left() <= 0) {
        throw new TimeoutError(
          `${host} was asked to restart but kept answering with the same boot time ` +
            `(${previousBootTime.toISOString()}) for ${seconds(timeout)} (the timeout): the ` +
            "restart was not carried out (a policy or a logged-on user may block it); raise " +
            "timeout if the host takes longer to begin",
          timeout,
        );
      }
      let now: Date;
      try {
        now = await bootTimeOf(probe, Math.min(PROBE_TIMEOUT_MS, Math.max(1000, left())));
      } catch (error) {
        // WMI, the shell or the connection going away: the host is on its way down.
        progress(
          `${host}: stopped answering after ${seconds(Date.now() - started)} (${describeError(error)})`,
        );
        break;
      }
      if (differs(now, previousBootTime)) {
        bootTime = now;
        break;
      }
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        progress(
          `${host}: still up after ${seconds(Date.now() - started)}; waiting for it to go down`,
        );
      }
      await sleep(Math.min(pollMs, Math.max(0, left())));
    }
  } finally {
    await probe.close();
  }

  // 4. Until it answers with a new boot time, then until it is ready.
  let lastError: string | undefined;
  const gone = () =>
    new TimeoutError(
      `${host} did not come back within ${seconds(timeout)} (the timeout) after it was asked ` +
        "to restart: check the host's console, or raise timeout for a host that takes longer to boot" +
        (lastError ? ` (last attempt: ${lastError})` : ""),
      timeout,
    );
  if (bootTime === undefined) {
    progress(`${host}: waiting up to ${seconds(Math.max(0, left()))} more for it to come back`);
  }
  let waiter: WinRMClient | undefined;
  try {
    while (bootTime === undefined) {
      if (left() <= 0) throw gone();
      waiter ??= connect(Math.max(0, left()));
      try {
        const now = await bootTimeOf(waiter, Math.max(1000, left()));
        if (differs(now, previousBootTime)) bootTime = now;
        else await sleep(Math.min(pollMs, Math.max(0, left())));
      } catch (error) {
        // A host that is booting refuses, drops connections, answers 503, or has WinRM up
        // before WMI or the domain logon: all of it is "not yet" until the deadline.
        lastError = describeError(error);
        if (left() <= 0) throw gone();
        // The client gave up waiting a little before the deadline (its next back-off would
        // pass it), or a WinRM service answered before it could run commands: ask again, on
        // a fresh client.
        await waiter.close();
        waiter = undefined;
        await sleep(Math.min(pollMs, Math.max(0, left())));
      }
    }
    progress(
      `${host}: back after ${seconds(Date.now() - started)} (booted at ${bootTime.toISOString()})`,
    );
    if (options.ready) {
      lastReport = 0;
      let lastCheck = "";
      for (;;) {
        if (left() <= 0) {
          throw new TimeoutError(
            `${host} came back but its test did not pass within ${seconds(timeout)} (the timeout)` +
              (lastCheck ? `: ${lastCheck}` : ""),
            timeout,
          );
        }
        waiter ??= connect(Math.max(0, left()));
        let check: ReadyCheck;
        try {
          check = await options.ready(waiter, Math.max(1000, left()));
        } catch (error) {
          check = { ok: false, detail: describeError(error) };
          await waiter.close();
          waiter = undefined;
        }
        if (check.ok) break;
        lastCheck = check.detail;
        if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
          lastReport = Date.now();
          progress(`${host}: not ready yet (${check.detail}); trying again`);
        }
        await sleep(Math.min(Math.max(pollMs, 2000), Math.max(0, left())));
      }
      progress(`${host}: ready after ${seconds(Date.now() - started)}`);
    }
  } finally {
    await waiter?.close();
  }
  return {
    bootTime,
    previousBootTime,
    rebooted: true,
    pendingReasons,
    waitedMs: Date.now() - started,
  };
}
