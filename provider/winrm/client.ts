/**
 * WinRMClient: the facade the resources and the command-line tool use. It owns a transport
 * (a pool of authenticated connections) and a pool of WinRS shells reused across commands.
 */
import { inspect } from "node:util";
import { REDACTED } from "../auth/credentials";
import { clientClosedError, UnsupportedError, WSManFault } from "../errors";
import { commandStart, type CommandResult, type RunOptions, runInShell } from "./winrs/command";
import { type ClientOptions, resolveClientOptions, type ResolvedClientOptions } from "./options";
import { isShellGone, lostShellOf, type ShellOptions, WinRSShell } from "./winrs/shell";
import { Transport } from "./http/pool";
import { type Clock, followSignal, systemClock, unrefTimer, WaitQueue } from "./wait-queue";
import { type IdentifyResult, WSManSession } from "./wsman";
import { type FileOperationOptions, RemoteFiles } from "./files";
import { type RemoteScripts, type ScriptFamily, scriptsFor } from "./scripts";
import {
  BOOTSTRAP_RESTRICTED_LANGUAGE,
  decodeClixml,
  framePowerShellInput,
  restrictedLanguageAdvice,
} from "./scripts/powershell";

export type { IdentifyResult } from "./wsman";
export type { RunOptions } from "./winrs/command";

/** Room left in each envelope for headers and the Send element around the base64 payload. */
const ENVELOPE_OVERHEAD = 4096;
/** How long to wait before asking again for a shell the host refused for quota. */
const QUOTA_RETRY_MS = 500;
/** How long a pooled shell may sit unused before it is deleted. */
const SHELL_IDLE_MS = 5000;
/** How long close() waits for the host to confirm the deletion of its shells. */
const DELETE_WAIT_MS = 5000;
/** Least time callers wait for a shell while the host's quota is exhausted. */
const QUOTA_WAIT_MS = 120_000;

/**
 * A shell after a command: "healthy" goes back to the pool; "gone": the host no longer has it;
 * "unknown": a command may run in it unattended (its start was abandoned), so it is deleted.
 */
type ShellState = "healthy" | "gone" | "unknown";

function isQuotaFault(error: unknown): boolean {
  return error instanceof WSManFault && /QuotaLimit/i.test(error.subcode ?? "");
}

export class WinRMClient {
  readonly options: ResolvedClientOptions;
  private readonly transport: Transport;
  private readonly idle: WinRSShell[] = [];
  private shellCount = 0;
  private readonly waiting: WaitQueue;
  /** Where the client's waits and timers read time: the system clock, or a test's. */
  private readonly clock: Clock;
  private closed = false;
  private family: Promise<ScriptFamily> | undefined;
  /** Shells the host allows this client, learnt from QuotaLimit faults. */
  private shellLimit = Number.POSITIVE_INFINITY;
  /** Commands between their start and their result. */
  private running = 0;
  /**
   * A stop per running command, for close(): it terminates them on the host rather than
   * leaving them to run on after their caller has gone.
   */
  private readonly stops = new Set<AbortController>();
  /** The runs in progress, which close() lets end before it deletes their shells. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * The WS-Management session shells use: over the transport, reporting contention also while
   * several commands run, so that their Receives take turns on one connection instead of each
   * holding it.
   */
  private readonly session: WSManSession;

  /**
   * `internals.clock`: tests move time by hand instead of sleeping.
   * `internals.shared`: the client serves callers that come and go (the resources of a Pulumi
   * program). Its Receives then never hold the connection for more than a second, even while
   * one command runs alone, so a command that ends is seen within a second; a request that
   * arrives while one is held gets another connection after HELD_RECEIVE_MS (http/pool.ts).
   */
  constructor(options: ClientOptions, internals: { clock?: Clock; shared?: boolean } = {}) {
    this.options = resolveClientOptions(options);
    this.clock = internals.clock ?? systemClock;
    this.waiting = new WaitQueue(this.clock);
    const transport = new Transport({ ...this.options.transport, clock: this.clock });
    this.transport = transport;
    this.session = new WSManSession(
      {
        request: (soap, requestOptions) => transport.request(soap, requestOptions),
        lane: () => transport.lane(),
        contended: () => internals.shared === true || transport.contended() || this.running > 1,
      },
      {
        to: this.endpoint,
        operationTimeoutSeconds: this.options.operationTimeoutSeconds,
        maxEnvelopeSize: this.options.maxEnvelopeSize,
        locale: this.options.locale,
      },
    );
  }

  /**
   * What util.inspect (console.log) and JSON.stringify show of a client: where it connects and
   * as whom, never its password, NT hash or session keys (the transport holds those).
   */
  summary(): Record<string, unknown> {
    const { endpoint, user, auth } = this.options.transport;
    return {
      endpoint: endpoint.href,
      user,
      auth,
      secret: REDACTED,
      connections: this.connectionCount,
    };
  }

  [inspect.custom](): string {
    return `WinRMClient ${inspect(this.summary())}`;
  }

  toJSON(): Record<string, unknown> {
    return this.summary();
  }

  /** Authenticated connections open now (each cost one handshake). */
  get connectionCount(): number {
    return this.transport.connectionCount;
  }

  /**
   * Sends sent as sealed while the Send before them was on the wire (issue 15; diagnostics):
   * a long input's client work overlapping the host's.
   */
  get sentSealedAhead(): number {
    return this.transport.sentSealedAhead;
  }

  /**
   * Requests sent right behind another on its connection, before that one's reply was checked
   * and parsed (issue 15; diagnostics): Receives of a large output, the host at work on the
   * next while the client takes the last.
   */
  get followUpsSent(): number {
    return this.transport.followUpsSent;
  }

  get endpoint(): string {
    return this.options.transport.endpoint.href;
  }

  /**
   * How the host was authenticated: "kerberos", "ntlm", or, when negotiate could not get a
   * Kerberos ticket, "ntlm (Kerberos was not used: <why>)"; undefined before the first request
   * and for Basic.
   */
  get authenticatedWith(): string | undefined {
    return this.transport.mechanism;
  }

  /** Largest stdin chunk whose base64 form fits in one envelope. */
  get stdinChunkBytes(): number {
    return Math.floor((this.options.maxEnvelopeSize - ENVELOPE_OVERHEAD) / 4) * 3;
  }

  /** WS-Management Identify (DSP0226 11): who the host says it is. */
  identify(): Promise<IdentifyResult> {
    return this.session.identify();
  }

  /**
   * Which family of remote scripts this host takes: as configured, or PowerShell when Identify
   * names Microsoft as the vendor and POSIX sh otherwise. Asked once per client.
   */
  scriptFamily(): Promise<ScriptFamily> {
    if (this.options.scripts !== "auto") return Promise.resolve(this.options.scripts);
    this.family ??= this.identify().then((identity) => (identity.windows ? "powershell" : "posix"));
    this.family.catch(() => (this.family = undefined));
    return this.family;
  }

  async scripts(): Promise<RemoteScripts> {
    return scriptsFor(await this.scriptFamily());
  }

  /** File operations (sha256, stat, remove, mkdirp, upload) in the host's script family. */
  async files(options: FileOperationOptions = {}): Promise<RemoteFiles> {
    const logon = this.options.transport.auth === "basic" ? "basic" : "ntlm";
    return new RemoteFiles(this, await this.scripts(), { logon, ...options });
  }

  /**
   * Runs a PowerShell script of any length: a short -EncodedCommand bootstrap reads it from
   * stdin, followed by `options.stdin`, which the script reads as pipeline input ($input, one
   * string per line). Uncaught errors give a non-zero exit code; `errorText` is stderr with
   * CLIXML decoded.
   */
  async runPowerShell(
    script: string,
    options: RunOptions = {},
  ): Promise<CommandResult & { errorText: string }> {
    const invocation = scriptsFor("powershell").runScript();
    const result = await this.run(invocation.command, invocation.args, {
      ...options,
      skipCmdShell: invocation.skipCmdShell,
      stdin: framePowerShellInput(script, options.stdin),
      // The bootstrap reads all of its stdin (script and input) before the script runs.
      inputBeforeOutput: true,
    });
    const errorText = decodeClixml(result.stderr.toString("utf8"));
    refuseRestrictedLanguage(result.exitCode, () => errorText);
    return { ...result, errorText };
  }

  /**
   * Runs a script in the host's own family (PowerShell or POSIX sh), passing it over stdin so
   * its length is unlimited.
   */
  async runScript(script: string, options: Omit<RunOptions, "stdin"> = {}): Promise<CommandResult> {
    const family = await this.scriptFamily();
    const invocation = scriptsFor(family).runScript();
    const result = await this.run(invocation.command, invocation.args, {
      ...options,
      skipCmdShell: invocation.skipCmdShell,
      stdin: family === "powershell" ? framePowerShellInput(script) : Buffer.from(script, "utf8"),
      // `sh -s` runs the script as it reads it; the PowerShell bootstrap reads it all first.
      inputBeforeOutput: family === "powershell",
    });
    if (family === "powershell") {
      refuseRestrictedLanguage(result.exitCode, () => decodeClixml(result.stderr.toString("utf8")));
    }
    return result;
  }

  /**
   * Runs a command and resolves with its exit code and the tail of its output; stream the
   * output with onStdout and onStderr. A non-zero exit code is a result, not an error.
   *
   * `args` are not quoted: as with ssh, WinRS joins the command and its arguments with spaces
   * and the host's command processor (cmd.exe, or sh on a POSIX host) parses the line, so
   * quote any argument that holds spaces or that processor's special characters yourself, or
   * pass untrusted text through runPowerShell's stdin instead.
   */
  async run(
    command: string,
    args: readonly string[] = [],
    options: RunOptions = {},
  ): Promise<CommandResult> {
    if (this.closed) throw clientClosedError();
    // The command stops on the caller's signal or on close(), whichever comes first.
    const { controller: stop, dispose } = followSignal(options.signal);
    this.stops.add(stop);
    this.running++;
    const run = this.runCounted(command, args, { ...options, signal: stop.signal });
    this.inFlight.add(run);
    try {
      return await run;
    } finally {
      this.running--;
      this.inFlight.delete(run);
      this.stops.delete(stop);
      dispose();
    }
  }

  private async runCounted(
    command: string,
    args: readonly string[],
    options: RunOptions,
  ): Promise<CommandResult> {
    const custom = options.environment !== undefined || options.workingDirectory !== undefined;
    if (custom) {
      return this.withDedicatedShell(
        { environment: options.environment, workingDirectory: options.workingDirectory },
        (shell) => runInShell(shell, command, args, options, this.stdinChunkBytes),
        options.signal,
      );
    }
    for (let attempt = 1; ; attempt++) {
      // A caller that gives up (its signal) stops waiting for a shell, too.
      const shell = await this.acquireShell(options.signal);
      let state: ShellState = "healthy";
      try {
        return await runInShell(shell, command, args, options, this.stdinChunkBytes);
      } catch (error) {
        const start = commandStart(error);
        if (isShellGone(error)) {
          state = "gone";
          // The host refused the Command because the shell is gone (its WinRM service
          // restarted, or it rebooted): the command did not run, and the shells pooled with
          // this one are gone too. Run it in a fresh shell, once.
          if (start === "refused" && attempt === 1) {
            this.forgetIdleShells();
            continue;
          }
        } else if (start === "unknown") {
          // The host may have started the command with nobody to receive its output or end
          // it: deleting the shell ends it.
          state = "unknown";
        }
        throw error;
      } finally {
        this.releaseShell(shell, state);
      }
    }
  }

  /**
   * Gives up the pooled shells after the host said one of them is gone: after a restart they
   * all are. Each is still deleted, in the background, in case only that one had gone (a
   * Delete of a shell the host no longer has costs one fault).
   */
  private forgetIdleShells(): void {
    for (const shell of this.idle.splice(0)) {
      this.shellCount--;
      this.deleteInBackground(shell);
    }
    this.waiting.wakeAll();
  }

  private async withDedicatedShell<T>(
    options: ShellOptions,
    work: (shell: WinRSShell) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    await this.reserveSlot(signal);
    let shell: WinRSShell | undefined;
    try {
      shell = await this.createShell(options, signal);
      return await work(shell);
    } finally {
      if (shell) await shell.delete().catch(() => undefined);
      this.shellCount--;
      this.waiting.wakeOne();
    }
  }

  /**
   * An idle pooled shell, or a new one while under the shell limit; otherwise waits for one to
   * be released. The limit is maxShells, lowered to what the host granted when it answers a
   * create with a QuotaLimit fault (MaxShellsPerUser), so callers queue instead of failing.
   */
  private async acquireShell(signal?: AbortSignal): Promise<WinRSShell> {
    const deadline =
      this.clock.now() + Math.max(this.options.transport.readyTimeoutMs, QUOTA_WAIT_MS);
    let lostCreate = false;
    for (;;) {
      if (this.closed) throw clientClosedError();
      const idle = this.idle.pop();
      if (idle) return idle;
      if (this.shellCount < Math.min(this.options.maxShells, this.shellLimit)) {
        this.shellCount++;
        try {
          return await WinRSShell.create(this.session, {}, signal);
        } catch (error) {
          this.shellCount--;
          if (this.deleteLostShell(error) && !lostCreate) {
            // Nothing ran in it: ask for another shell, once.
            lostCreate = true;
            continue;
          }
          if (!isQuotaFault(error) || this.clock.now() > deadline) throw error;
          // Other users of the account may hold shells too: never go below one, and retry.
          this.shellLimit = Math.max(1, this.shellCount);
          await this.nextRelease(QUOTA_RETRY_MS, signal);
          continue;
        }
      }
      await this.nextRelease(this.shellCount === 0 ? QUOTA_RETRY_MS : undefined, signal);
    }
  }

  /** Resolves when a shell is released, or after `ms` when given; rejects when `signal` fires. */
  private async nextRelease(ms?: number, signal?: AbortSignal): Promise<void> {
    await this.waiting.wait({ timeoutMs: ms, signal });
  }

  /** Waits until a dedicated shell may be created, then counts it. */
  private async reserveSlot(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.closed) throw clientClosedError();
      if (this.shellCount < Math.min(this.options.maxShells, this.shellLimit)) {
        this.shellCount++;
        return;
      }
      const idle = this.idle.pop();
      if (idle) {
        // Trade an idle pooled shell for the slot.
        await idle.delete().catch(() => undefined);
        return;
      }
      await this.nextRelease(undefined, signal);
    }
  }

  /** Creates a dedicated shell, waiting out the host's shell quota like acquireShell does. */
  private async createShell(options: ShellOptions, signal?: AbortSignal): Promise<WinRSShell> {
    const deadline =
      this.clock.now() + Math.max(this.options.transport.readyTimeoutMs, QUOTA_WAIT_MS);
    for (;;) {
      try {
        return await WinRSShell.create(this.session, options, signal);
      } catch (error) {
        this.deleteLostShell(error);
        if (!isQuotaFault(error) || this.clock.now() > deadline) throw error;
        const idle = this.idle.pop();
        if (idle) {
          this.shellCount--;
          await idle.delete().catch(() => undefined);
        } else {
          await this.nextRelease(QUOTA_RETRY_MS, signal);
        }
      }
    }
  }

  /**
   * A shell the host says is gone is dropped; one whose state is unknown is deleted; a live one
   * is pooled, or deleted once closed.
   */
  private releaseShell(shell: WinRSShell, state: ShellState): void {
    if (state === "gone") {
      this.shellCount--;
    } else if (state === "healthy" && !this.closed) {
      this.idle.push(shell);
      this.expireWhenIdle(shell);
    } else {
      this.shellCount--;
      this.deleteInBackground(shell);
    }
    this.waiting.wakeOne();
  }

  /**
   * After a Create whose reply was lost: deletes, in the background, the shell the host may
   * have made under the client's name for it. Returns whether that was the failure.
   */
  private deleteLostShell(error: unknown): boolean {
    const lost = lostShellOf(error);
    if (lost === undefined) return false;
    this.deleteInBackground(lost);
    return true;
  }

  /** Deletes that callers do not wait for; close() waits for them (DELETE_WAIT_MS at most). */
  private readonly deleting = new Set<Promise<void>>();

  private deleteInBackground(shell: WinRSShell): void {
    const deleted = shell.delete().catch(() => undefined);
    this.deleting.add(deleted);
    void deleted.finally(() => this.deleting.delete(deleted));
  }

  /**
   * Deletes a pooled shell that stays unused for SHELL_IDLE_MS. A host keeps an abandoned shell
   * until its IdleTimeout (two hours by default on Windows), and MaxShellsPerUser counts it:
   * a process that exits without close() (a Pulumi provider is killed, not closed) would
   * otherwise strand its shells and, after a few runs, exhaust the quota.
   */
  private expireWhenIdle(shell: WinRSShell): void {
    const timer = this.clock.setTimeout(() => {
      const index = this.idle.indexOf(shell);
      if (index < 0) return;
      this.idle.splice(index, 1);
      this.shellCount--;
      this.deleteInBackground(shell);
      this.waiting.wakeOne();
    }, SHELL_IDLE_MS);
    // The pool must not keep a process alive that has nothing else to do.
    unrefTimer(timer);
  }

  /**
   * Terminates the commands still running (their calls reject with clientClosedError), deletes
   * every shell and closes the connections.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiting.wakeAll();
    for (const stop of this.stops) stop.abort(clientClosedError());
    for (const shell of this.idle.splice(0)) this.deleteInBackground(shell);
    // A stopped command ends by itself or is terminated, and then gives back its shell, which
    // is deleted; every shell this client still holds on the host goes before the connections.
    // A host that does not answer is not waited for beyond DELETE_WAIT_MS (its shells then
    // end at their IdleTimeOut).
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise((resolve) => (timer = setTimeout(resolve, DELETE_WAIT_MS)));
    await Promise.race([
      Promise.allSettled([...this.inFlight]).then(() => Promise.all([...this.deleting])),
      deadline,
    ]);
    clearTimeout(timer);
    await this.transport.close();
  }
}

/**
 * Throws the advice when the runScript bootstrap refused to start because the host runs
 * PowerShell in a restricted language mode; a script's own failure is left to the caller.
 */
function refuseRestrictedLanguage(exitCode: number, errorText: () => string): void {
  // Only an exit code of 1 can be the bootstrap's refusal: stderr is decoded for that alone.
  if (exitCode !== 1) return;
  const mode = BOOTSTRAP_RESTRICTED_LANGUAGE.exec(errorText())?.[1];
  if (mode !== undefined)
    throw new UnsupportedError(`running the script: ${restrictedLanguageAdvice(mode)}`);
}
