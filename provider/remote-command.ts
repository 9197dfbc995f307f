/**
 * The RemoteCommand lifecycle: check, diff, create, update, delete and read (refresh), mapped
 * onto remote execution with DSC-style Test/Set idempotence and drift detection.
 *
 * Inputs are echoed into outputs, because `diff` receives the old outputs, not the old inputs.
 * The outputs `stdout`, `stderr`, `state` and `appliedState` are secret whenever the user passed
 * a command, stdin or an environment value as a secret: the SDK says so in `secretOutputs`,
 * and every lifecycle step returns them marked secret (secret-outputs.ts).
 */
import { StringDecoder } from "node:string_decoder";
import { CommandFailedError, InvalidArgumentError, TimeoutError, WinRMError } from "./errors";
import { ClixmlStream } from "./winrm/scripts/clixml";
import {
  type CheckFailure,
  checkConnection,
  type ConnectionArgs,
  isUnknown,
  UNKNOWN,
  withClient,
} from "./connection";
import { ResourceLog, resourceLog, urnOf } from "./engine-log";
import { withSecretOutputs } from "./secret-outputs";
import { changedKeys, pickInputs, sameHost, withSecretFlagOnlyWhenSet } from "./resource-inputs";
import type { WinRMClient } from "./winrm/client";
import type { CommandResult } from "./winrm/winrs/command";
import { newResourceId } from "./resource-id";

export type CommandShell = "powershell" | "cmd";
export type Logging = "stdout" | "stderr" | "stdoutAndStderr" | "none";

export interface RemoteCommandInputs {
  connection: ConnectionArgs;
  create: string;
  update?: string;
  delete?: string;
  test?: string;
  read?: string;
  shell?: CommandShell;
  environment?: Record<string, string>;
  stdin?: string;
  workingDirectory?: string;
  /** Seconds; each command is terminated past it. */
  timeout?: number;
  triggers?: unknown[];
  logging?: Logging;
  /** Set by the SDK: whether any command, stdin or environment value is secret. */
  secretOutputs?: boolean;
}

export interface RemoteCommandOutputs extends RemoteCommandInputs {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** What `read` printed at the last refresh, or after the last apply. */
  state: string;
  /** The `state` recorded right after the last create or update: drift is state !== this. */
  appliedState: string;
  /** True when `test` reported the host already in the desired state, so nothing ran. */
  skipped: boolean;
  /** False after a refresh in which `test` failed: the next `up` re-applies. */
  inSync: boolean;
}

const INPUT_KEYS = [
  "connection",
  "create",
  "update",
  "delete",
  "test",
  "read",
  "shell",
  "environment",
  "stdin",
  "workingDirectory",
  "timeout",
  "triggers",
  "logging",
  "secretOutputs",
] as const;
/** A change to these replaces the resource (and so runs `delete`, then `create`). */
const REPLACING_KEYS = ["triggers", "connection"] as const;
/** The outputs that are secret when `secretOutputs` is set. */
const SECRET_OUTPUT_KEYS = ["stdout", "stderr", "state", "appliedState"] as const;
/** `outputs` with the command's output marked secret when the inputs ask for it. */
function sealed<T extends Record<string, unknown>>(outputs: T, inputs: RemoteCommandInputs): T {
  return withSecretOutputs(outputs, SECRET_OUTPUT_KEYS, inputs.secretOutputs);
}
/** Bytes of stderr quoted in an error message. */
const STDERR_TAIL = 2000;
/** Bytes of stdout and stderr kept in state. */
const OUTPUT_LIMIT = 1024 * 1024;

/** The inputs that are commands run in the chosen shell. */
const COMMAND_KEYS = ["create", "update", "delete", "test", "read"] as const;
const MULTI_LINE = /[\r\n]/;
/**
 * WinRS runs a cmd command as `cmd.exe /c <line>`, and cmd stops at the first line break: the
 * rest would silently not run, and the exit code could still be 0.
 */
const MULTI_LINE_CMD =
  'holds several lines, and a Windows host runs a cmd command with "cmd /c", which stops at the ' +
  'first line break: join the lines with "&" (or "&&" to stop at the first failure), or use ' +
  'shell: "powershell"';

export function check(olds: Record<string, unknown>, news: Record<string, unknown>) {
  const failures: CheckFailure[] = [...checkConnection(news.connection)];
  const known = (name: string) => news[name] !== undefined && !isUnknown(news[name]);
  if (!isUnknown(news.create) && (typeof news.create !== "string" || news.create.trim() === "")) {
    failures.push({
      property: "create",
      reason: "is required: the command that brings the host to the desired state",
    });
  }
  for (const name of ["update", "delete", "test", "read", "stdin", "workingDirectory"]) {
    if (known(name) && typeof news[name] !== "string")
      failures.push({ property: name, reason: "must be a string" });
  }
  if (known("shell") && !["powershell", "cmd"].includes(news.shell as string)) {
    failures.push({
      property: "shell",
      reason: `must be "powershell" or "cmd", got ${JSON.stringify(news.shell)}`,
    });
  }
  // A Windows host pinned by name: a multi-line cmd command is refused now, not at `up`.
  const connection = news.connection as Partial<ConnectionArgs> | undefined;
  if (news.shell === "cmd" && connection?.scripts === "powershell") {
    for (const name of COMMAND_KEYS) {
      if (known(name) && typeof news[name] === "string" && MULTI_LINE.test(news[name])) {
        failures.push({ property: name, reason: MULTI_LINE_CMD });
      }
    }
  }
  if (
    known("logging") &&
    !["stdout", "stderr", "stdoutAndStderr", "none"].includes(news.logging as string)
  ) {
    failures.push({
      property: "logging",
      reason: 'must be "stdout", "stderr", "stdoutAndStderr" or "none"',
    });
  }
  if (known("timeout") && (typeof news.timeout !== "number" || !(news.timeout > 0))) {
    failures.push({ property: "timeout", reason: "must be a positive number of seconds" });
  }
  if (known("environment")) {
    const environment = news.environment;
    if (environment === null || typeof environment !== "object" || Array.isArray(environment)) {
      failures.push({ property: "environment", reason: "must be a map of names to strings" });
    } else {
      for (const [name, value] of Object.entries(environment)) {
        if (!isUnknown(value) && typeof value !== "string") {
          failures.push({ property: `environment.${name}`, reason: "must be a string" });
        }
      }
    }
  }
  void olds;
  return { inputs: withSecretFlagOnlyWhenSet(news), failures };
}

function inputsOf(props: Record<string, unknown>): RemoteCommandInputs {
  return pickInputs<RemoteCommandInputs>(props, INPUT_KEYS);
}

/** Drift found by the last refresh: `test` failed, or `read` saw something else. */
function drifted(olds: Record<string, unknown>): boolean {
  return (
    olds.inSync === false || (typeof olds.read === "string" && olds.state !== olds.appliedState)
  );
}

export function diff(
  _id: string,
  recordedOlds: Record<string, unknown>,
  checkedNews: Record<string, unknown>,
) {
  const olds = withSecretFlagOnlyWhenSet(recordedOlds);
  const news = withSecretFlagOnlyWhenSet(checkedNews);
  const replaces = changedKeys(olds, news, REPLACING_KEYS);
  const changed = changedKeys(olds, news, INPUT_KEYS);
  // Connection changes (a new password, say) need no replacement when the host is the same.
  const connectionOnly =
    replaces.length === 1 &&
    replaces[0] === "connection" &&
    sameHost(olds.connection, news.connection);
  return {
    changes: changed.length > 0 || drifted(olds),
    replaces: connectionOnly ? [] : [...replaces],
    // A replacement undoes the old resource before applying the new one: `delete`, then
    // `create` (the engine's default, create-before-delete, would run them the other way round).
    deleteBeforeReplace: true,
    stables: [],
  };
}

/** Decodes PowerShell's CLIXML stderr as it arrives and prints the text (ClixmlStream). */
function liveClixml(print: (text: string) => void): {
  write: (chunk: Buffer) => void;
  end: () => void;
} {
  const characters = new StringDecoder("utf8");
  const stream = new ClixmlStream();
  const emit = (text: string) => {
    if (text !== "") print(text);
  };
  return {
    write: (chunk) => emit(stream.write(characters.write(chunk))),
    end: () => emit(stream.write(characters.end()) + stream.end()),
  };
}

/** Runs one of the resource's commands in the chosen shell. */
async function execute(
  client: WinRMClient,
  inputs: RemoteCommandInputs,
  script: string,
  log: ResourceLog | undefined,
): Promise<CommandResult> {
  if (inputs.shell === "cmd" && MULTI_LINE.test(script)) {
    // Only a Windows host has cmd.exe; a POSIX host's command processor (sh) runs every line.
    if ((await client.scriptFamily()) === "powershell") {
      const name = COMMAND_KEYS.find((key) => inputs[key] === script) ?? "command";
      throw new InvalidArgumentError(name, MULTI_LINE_CMD);
    }
  }
  const logging = inputs.logging ?? "stdoutAndStderr";
  const powershell = (inputs.shell ?? "powershell") === "powershell";
  const printer = (wanted: boolean, stream: "out" | "err") => {
    if (log === undefined || !wanted) return undefined;
    const characters = new StringDecoder("utf8");
    return (chunk: Buffer) => log.write(characters.write(chunk), stream);
  };
  const stderrWanted = logging === "stderr" || logging === "stdoutAndStderr";
  const stderrPrinter = printer(stderrWanted, "err");
  // PowerShell writes its error records to stderr as CLIXML: the log shows them decoded.
  const stderrLog =
    powershell && log && stderrWanted ? liveClixml((text) => log.write(text, "err")) : undefined;
  const options = {
    stdin: inputs.stdin === undefined ? undefined : Buffer.from(inputs.stdin, "utf8"),
    environment: inputs.environment,
    workingDirectory: inputs.workingDirectory,
    timeoutMs: inputs.timeout === undefined ? undefined : Math.round(inputs.timeout * 1000),
    maxOutputBytes: OUTPUT_LIMIT,
    onStdout: printer(logging === "stdout" || logging === "stdoutAndStderr", "out"),
    onStderr: stderrLog?.write ?? stderrPrinter,
  };
  if (powershell) {
    try {
      const result = await client.runPowerShell(script, options);
      return { ...result, stderr: Buffer.from(result.errorText, "utf8") };
    } finally {
      stderrLog?.end();
    }
  }
  return client.run(script, [], options);
}

/**
 * The error for a command that exited non-zero. Its stderr tail says why, unless the inputs
 * are secret: a script that echoes its stdin, environment or own text would put the secret
 * into `pulumi up`'s output and the CI log, so then only the exit code is given.
 */
function failure(
  what: string,
  result: CommandResult,
  inputs: RemoteCommandInputs,
): CommandFailedError {
  if (inputs.secretOutputs) {
    return new CommandFailedError(
      `${what} (its output is withheld because the commands, stdin or environment are secret; run it by hand, with pulumi-winrm exec for instance, to see it)`,
      result.exitCode,
      "",
    );
  }
  const stderr = result.stderr.toString("utf8");
  return new CommandFailedError(what, result.exitCode, stderr.slice(-STDERR_TAIL));
}

/** Wraps errors so the message says which step failed and never echoes the command text. */
function describe(step: string, error: unknown): Error {
  if (error instanceof CommandFailedError) return error;
  if (error instanceof TimeoutError) {
    // The client says "the command did not finish ...": name which command.
    const message = error.message.replace(/^the command /, "");
    return new TimeoutError(`the ${step} command ${message}`, error.timeoutMs, { cause: error });
  }
  if (error instanceof WinRMError) return error;
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Where a command's output streams: the resource's lines in the Pulumi output, or nowhere when
 * the inputs are secret (a script may echo its stdin, environment or own text).
 */
function outputLog(props: Record<string, unknown>, inputs: RemoteCommandInputs) {
  return inputs.secretOutputs ? undefined : resourceLog(props);
}

async function apply(
  inputs: RemoteCommandInputs,
  command: string,
  step: "create" | "update",
  log: ResourceLog | undefined,
) {
  return withClient(inputs.connection, async (client) => {
    try {
      if (inputs.test !== undefined) {
        const test = await execute(client, inputs, inputs.test, undefined);
        if (test.exitCode === 0) {
          const state = inputs.read === undefined ? "" : await readState(client, inputs);
          return {
            stdout: "",
            stderr: "",
            exitCode: 0,
            state,
            ...appliedStateOf(inputs, state),
            skipped: true,
            inSync: true,
          };
        }
      }
      const result = await execute(client, inputs, command, log);
      if (result.exitCode !== 0) throw failure(`the ${step} command`, result, inputs);
      const state = inputs.read === undefined ? "" : await readState(client, inputs);
      return {
        stdout: result.stdout.toString("utf8"),
        stderr: result.stderr.toString("utf8"),
        exitCode: result.exitCode,
        state,
        ...appliedStateOf(inputs, state),
        skipped: false,
        inSync: true,
      };
    } catch (error) {
      throw describe(step, error);
    } finally {
      await log?.flush();
    }
  });
}

/**
 * The state recorded at apply, which a refresh's `read` is compared with: only a resource with
 * a `read` command has one, so the others store nothing for it (issue 19).
 */
function appliedStateOf(inputs: RemoteCommandInputs, state: string): { appliedState?: string } {
  return inputs.read === undefined ? {} : { appliedState: state };
}

async function readState(client: WinRMClient, inputs: RemoteCommandInputs): Promise<string> {
  const result = await execute(client, inputs, inputs.read!, undefined);
  if (result.exitCode !== 0) throw failure("the read command", result, inputs);
  return result.stdout.toString("utf8");
}

/**
 * The URN kept in the outputs, for what `delete` prints: only a resource with a delete command
 * whose output is shown needs it there (`read` prints nothing), and a URN stored twice costs
 * about 90 bytes in every checkpoint the engine writes (issue 19).
 */
function urnForDelete(news: Record<string, unknown>, inputs: RemoteCommandInputs) {
  return inputs.delete !== undefined && !inputs.secretOutputs ? urnOf(news) : {};
}

export async function create(news: Record<string, unknown>) {
  const inputs = inputsOf(news);
  const outputs = await apply(inputs, inputs.create, "create", outputLog(news, inputs));
  return {
    id: newResourceId(),
    outs: sealed({ ...inputs, ...outputs, ...urnForDelete(news, inputs) }, inputs),
  };
}

export async function update(
  _id: string,
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
) {
  const inputs = inputsOf(news);
  // Only the connection changed (a rotated password, a longer timeout) and the host is in sync:
  // keep what was recorded and run nothing; the new connection is used from now on.
  const changed = changedKeys(
    withSecretFlagOnlyWhenSet(olds),
    withSecretFlagOnlyWhenSet(news),
    INPUT_KEYS,
  );
  if (changed.length === 1 && changed[0] === "connection" && !drifted(olds)) {
    const kept = withSecretFlagOnlyWhenSet(olds);
    return { outs: sealed({ ...kept, ...inputs, ...urnForDelete(news, inputs) }, inputs) };
  }
  const command = inputs.update ?? inputs.create;
  const outputs = await apply(inputs, command, "update", outputLog(news, inputs));
  return { outs: sealed({ ...inputs, ...outputs, ...urnForDelete(news, inputs) }, inputs) };
}

export async function remove(_id: string, props: Record<string, unknown>) {
  const inputs = inputsOf(props);
  if (inputs.delete === undefined) return;
  const log = outputLog(props, inputs);
  await withClient(inputs.connection, async (client) => {
    try {
      const result = await execute(client, inputs, inputs.delete!, log);
      if (result.exitCode !== 0) throw failure("the delete command", result, inputs);
    } catch (error) {
      throw describe("delete", error);
    } finally {
      await log?.flush();
    }
  });
}

/**
 * Refresh: reruns `test` and `read`. A failing test marks the resource out of sync and a new
 * `read` output replaces `state`; either shows as a change, and the next `up` re-applies.
 */
export async function read(id: string, props: Record<string, unknown>) {
  const inputs = inputsOf(props);
  if (inputs.test === undefined && inputs.read === undefined) {
    return { id, props: sealed(props, inputs) };
  }
  return withClient(inputs.connection, async (client) => {
    const next: Record<string, unknown> = { ...props };
    if (inputs.test !== undefined) {
      next.inSync = (await execute(client, inputs, inputs.test, undefined)).exitCode === 0;
    }
    if (inputs.read !== undefined) {
      // A read that fails is drift, not a failed refresh: what it reads is usually what went
      // missing (`cat` of a deleted file). The state says why, so the refresh diff shows it,
      // and the next up re-applies.
      const result = await execute(client, inputs, inputs.read, undefined);
      if (result.exitCode === 0) {
        next.state = result.stdout.toString("utf8");
      } else {
        const stderr = result.stderr.toString("utf8").trim().slice(-STDERR_TAIL);
        next.state = `(the read command exited with code ${result.exitCode}: ${stderr})`;
        next.inSync = false;
      }
    }
    return {
      id,
      props: sealed(next, inputs),
      inputs: inputs as unknown as Record<string, unknown>,
    };
  });
}

export { UNKNOWN };
