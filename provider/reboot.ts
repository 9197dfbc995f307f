/**
 * The Reboot lifecycle: restart the host and wait until it is usable again
 * (winrm/host-restart.ts does the work). Create restarts; an update restarts again only when
 * `triggers` or `when` changed; delete and refresh do nothing on the host, so a refresh shows
 * no change and a destroy leaves the host as it is.
 *
 * Inputs are echoed into outputs, because `diff` receives the old outputs, not the old inputs.
 */
import {
  type CheckFailure,
  checkConnection,
  type ConnectionArgs,
  dedicatedClient,
  dropHost,
  isUnknown,
  withClient,
} from "./connection";
import { ResourceLog, resourceLog, urnOf } from "./engine-log";
import { changedKeys, pickInputs, sameHost, timeoutFailure } from "./resource-inputs";
import type { WinRMClient } from "./winrm/client";
import { describeWait } from "./winrm/http/host-wait";
import { type ReadyCheck, restartHost } from "./winrm/host-restart";
import { SHUTDOWN_COMMENT_MAX } from "./winrm/scripts/powershell-power";
import { newResourceId } from "./resource-id";

export type RebootWhen = "always" | "pending";

export interface RebootInputs {
  connection: ConnectionArgs;
  /** Any change restarts the host again. */
  triggers?: unknown[];
  /** "always" (default), or "pending": only when the host says a restart is pending. */
  when?: RebootWhen;
  /** Seconds to wait for the host to go down, come back and pass `test`; default 600. */
  timeout?: number;
  /** A command that must exit 0 before the host counts as ready. */
  test?: string;
  /** The shell `test` runs in: "powershell" (default) or "cmd". */
  shell?: "powershell" | "cmd";
  /** Noted with the restart (shutdown's comment); default "pulumi-winrm: Reboot <name>". */
  message?: string;
}

export interface RebootOutputs extends RebootInputs {
  /** When the host booted, ISO 8601 UTC: after the restart, or when no restart was needed. */
  bootTime: string;
  /** False when `when: "pending"` found nothing pending. */
  rebooted: boolean;
  /** Seconds from the restart request until the host was back and ready. */
  waitedSeconds: number;
}

const INPUT_KEYS = [
  "connection",
  "triggers",
  "when",
  "timeout",
  "test",
  "shell",
  "message",
] as const;
/** Inputs whose change restarts the host again. */
const RESTART_KEYS = ["triggers", "when"] as const;
export const DEFAULT_TIMEOUT_SECONDS = 600;
/** How long one run of `test` may take. */
const TEST_TIMEOUT_MS = 60_000;

function inputsOf(props: Record<string, unknown>): RebootInputs {
  return pickInputs<RebootInputs>(props, INPUT_KEYS);
}

export function check(_olds: Record<string, unknown>, news: Record<string, unknown>) {
  const failures: CheckFailure[] = [...checkConnection(news.connection)];
  const known = (name: string) => news[name] !== undefined && !isUnknown(news[name]);
  if (known("when") && news.when !== "always" && news.when !== "pending") {
    failures.push({
      property: "when",
      reason: `must be "always" or "pending", got ${JSON.stringify(news.when)}`,
    });
  }
  const timeout = timeoutFailure(news.timeout);
  if (timeout) failures.push(timeout);
  if (known("test") && (typeof news.test !== "string" || news.test.trim() === "")) {
    failures.push({ property: "test", reason: "must be a non-empty command" });
  }
  if (known("shell") && news.shell !== "powershell" && news.shell !== "cmd") {
    failures.push({
      property: "shell",
      reason: `must be "powershell" or "cmd", got ${JSON.stringify(news.shell)}`,
    });
  }
  if (known("message")) {
    if (typeof news.message !== "string") {
      failures.push({ property: "message", reason: "must be a string" });
    } else if (news.message.includes('"')) {
      failures.push({
        property: "message",
        reason: "must not contain double quotes (Windows PowerShell 5.1 would split it)",
      });
    } else if (news.message.length > SHUTDOWN_COMMENT_MAX) {
      failures.push({
        property: "message",
        reason: `must be at most ${SHUTDOWN_COMMENT_MAX} characters (shutdown.exe's limit)`,
      });
    }
  }
  if (known("triggers") && !Array.isArray(news.triggers)) {
    failures.push({ property: "triggers", reason: "must be a list" });
  }
  return { inputs: news, failures };
}

export function diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
  const replaces = sameHost(olds.connection, news.connection) ? [] : ["connection"];
  const changed = changedKeys(olds, news, INPUT_KEYS);
  return { changes: replaces.length > 0 || changed.length > 0, replaces };
}

/** Runs `test` once on the host that came back. */
async function runTest(
  client: WinRMClient,
  inputs: RebootInputs,
  timeLeftMs: number,
): Promise<ReadyCheck> {
  const test = inputs.test!;
  const options = { timeoutMs: Math.min(TEST_TIMEOUT_MS, timeLeftMs), maxOutputBytes: 64 * 1024 };
  const result =
    (inputs.shell ?? "powershell") === "powershell"
      ? await client.runPowerShell(test, options)
      : await client.run(test, [], options);
  // Only the exit code: the test's output may hold what its author would not print.
  return { ok: result.exitCode === 0, detail: `the test exited with code ${result.exitCode}` };
}

async function reboot(
  inputs: RebootInputs,
  log: ResourceLog,
  name: string,
): Promise<Pick<RebootOutputs, "bootTime" | "rebooted" | "waitedSeconds">> {
  const timeoutMs = Math.round((inputs.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000);
  try {
    const result = await withClient(inputs.connection, (client) =>
      restartHost(
        client,
        (readyTimeoutMs) =>
          dedicatedClient(inputs.connection, readyTimeoutMs, (progress) =>
            log.write(`${describeWait(progress, { option: "timeout", unit: "s" })}\n`),
          ),
        {
          when: inputs.when ?? "always",
          timeoutMs,
          message: inputs.message ?? defaultMessage(name),
          ready:
            inputs.test === undefined
              ? undefined
              : (client, timeLeftMs) => runTest(client, inputs, timeLeftMs),
          onProgress: (line) => log.write(`${line}\n`),
          onRestartRequested: () => dropHost(inputs.connection),
        },
      ),
    );
    return {
      bootTime: result.bootTime.toISOString(),
      rebooted: result.rebooted,
      waitedSeconds: Math.round(result.waitedMs / 1000),
    };
  } finally {
    await log.flush();
  }
}

/** "pulumi-winrm: Reboot NAME", in what shutdown.exe takes: no double quote, 512 characters. */
function defaultMessage(name: string): string {
  return `pulumi-winrm: Reboot ${name.replace(/"/g, "'")}`.slice(0, SHUTDOWN_COMMENT_MAX);
}

/** The resource's name, from its URN (the last part), for the default message. */
function nameOf(props: Record<string, unknown>): string {
  const urn = urnOf(props).__urn;
  return urn === undefined ? "" : urn.slice(urn.lastIndexOf("::") + 2);
}

export async function create(news: Record<string, unknown>) {
  const inputs = inputsOf(news);
  const outputs = await reboot(inputs, resourceLog(news), nameOf(news));
  return { id: newResourceId(), outs: { ...inputs, ...urnOf(news), ...outputs } };
}

export async function update(
  _id: string,
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
) {
  const inputs = inputsOf(news);
  if (changedKeys(olds, news, RESTART_KEYS).length === 0) {
    // Only how to restart changed (timeout, test, message): nothing to do on the host now.
    const kept = {
      bootTime: olds.bootTime,
      rebooted: olds.rebooted,
      waitedSeconds: olds.waitedSeconds,
    };
    return { outs: { ...inputs, ...urnOf(news), ...kept } };
  }
  const outputs = await reboot(inputs, resourceLog(news), nameOf(news));
  return { outs: { ...inputs, ...urnOf(news), ...outputs } };
}

/** Destroying a Reboot does nothing to the host: a restart cannot be undone. */
export function remove(): Promise<void> {
  return Promise.resolve();
}

/** Refresh: a restart that happened is a fact, not a state to drift from. */
export function read(id: string, props: Record<string, unknown>) {
  return Promise.resolve({
    id,
    props,
    inputs: inputsOf(props) as unknown as Record<string, unknown>,
  });
}
