/**
 * The WinRS shell resource (MS-WSMV 3.1.4.5 Create, 3.1.4.11 Command, 3.1.4.12 Send,
 * 3.1.4.13 Receive, 3.1.4.14 Signal, 3.1.4.6 Delete) served with real POSIX processes.
 *
 * How a command line is run. WinRS hands `cmd.exe /c` the rsp:Command text, a space, and the
 * rsp:Arguments texts joined by spaces; cmd.exe then parses that line itself. The POSIX analogue
 * used here: the same line (Command, then each Arguments element, joined by single spaces) goes
 * to `<shell> -c <line>` (default /bin/sh), which parses it as cmd.exe would have. With
 * WINRS_SKIP_CMD_SHELL=TRUE Windows skips cmd.exe and starts the program directly; here the
 * Command is then executed directly with each rsp:Arguments element as one argv entry.
 * A line whose program is `powershell`, `powershell.exe` or `pwsh` runs under `pwsh` when it is
 * installed (see findPwsh); otherwise the Command is refused with a fault that says so.
 *
 * The Windows persona (WinRsOptions.persona) runs such a line as powershell.exe would get it:
 * the whole line is split into argv by the C runtime's rules (windows-command-line.ts) and
 * pwsh is started directly with those arguments, with or without WINRS_SKIP_CMD_SHELL. A line
 * that cmd.exe would have changed first (an operator or a %VARIABLE% outside what the program
 * sees) is refused: there is no cmd.exe here to do it. Every other line (the cmd family) runs
 * under sh as described above, in both personas.
 *
 * Every process gets its own process group, so that Signal terminate, Delete and closing the
 * host end it and everything it started.
 *
 * Output is held per command in arrival order and handed out by Receive. When more than
 * HIGH_WATER bytes wait, the child's pipes are paused (the child then blocks on write), and
 * resumed once Receive has drained them below LOW_WATER: a command writing gigabytes costs the
 * host a bounded amount of memory.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { homedir, constants as osConstants } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { type ExecutionLog, LogKind } from "./log";
import type { Machine } from "./machine";
import { cmdOperatorOutsideQuotes, splitWindowsCommandLine } from "./windows-command-line";
import { messageWithPayloads, PAYLOAD_PLACE } from "../../provider/winrm/wsman/payloads";
import {
  Action,
  attribute,
  buildResponse,
  child,
  children,
  escapeXml,
  Faults,
  HostFault,
  type RequestEnvelope,
  SHELL_RESOURCE_URI,
  streamData,
  text,
  type XmlNode,
} from "./wsman";

/** Output bytes held per command before its pipes are paused. */
const HIGH_WATER = 1024 * 1024;
/** How long a Receive waits for more output once some is there (Command.gather). */
const GATHER_MS = 5;
const LOW_WATER = 256 * 1024;
/** Windows' default OperationTimeout when a request names none (MaxTimeoutms 60000). */
const DEFAULT_OPERATION_TIMEOUT_MS = 60_000;

const COMMAND_STATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState";
export const SignalCode = Object.freeze({
  TERMINATE: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate",
  CTRL_C: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c",
  CTRL_BREAK: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break",
} as const);

const POWERSHELL = /^\s*"?(powershell|powershell\.exe|pwsh|pwsh\.exe)"?(?=\s|$)/i;

/**
 * -EncodedCommand, or an abbreviation of it that powershell.exe accepts (-e, -en, -enc, ...),
 * or -ec; the parameter may start with / as well as -.
 */
function isEncodedCommandFlag(arg: string): boolean {
  const flag = arg.toLowerCase().replace(/^\//, "-");
  return flag === "-ec" || (flag.length >= 2 && "-encodedcommand".startsWith(flag));
}

/**
 * The arguments with the -EncodedCommand text prefixed by a statement that puts the session in
 * Constrained Language Mode, as an App Control or AppLocker policy would have started it. A
 * line without -EncodedCommand is refused: the persona cannot constrain it faithfully.
 */
export function inConstrainedLanguage(argv: string[]): string[] {
  return withPrelude(argv, "$ExecutionContext.SessionState.LanguageMode = 'ConstrainedLanguage'");
}

/**
 * `argv` with `prelude` run before the -EncodedCommand script: how the Windows persona gives
 * PowerShell what a Windows machine has and pwsh on Linux lacks, or the policy a Windows host
 * would impose. A line without -EncodedCommand is refused: it cannot be given one faithfully.
 */
export function withPrelude(argv: string[], prelude: string): string[] {
  const at = argv.findIndex(isEncodedCommandFlag);
  const encoded = at >= 0 ? argv[at + 1] : undefined;
  if (encoded === undefined) {
    throw new HostFault(
      Faults.malformed("the loopback host runs only -EncodedCommand PowerShell lines"),
    );
  }
  const script = Buffer.from(encoded, "base64").toString("utf16le");
  const copy = [...argv];
  copy[at + 1] = Buffer.from(`${prelude}\n${script}`, "utf16le").toString("base64");
  return copy;
}

export interface WinRsOptions {
  log: ExecutionLog;
  /** The POSIX shell that stands in for cmd.exe. */
  shell: string;
  /** The pwsh for powershell.exe; undefined: findPwsh() at first use; null: none here. */
  pwsh?: string | null;
  /** "windows": PowerShell lines are split into argv as powershell.exe would split them. */
  persona?: "posix" | "windows";
  /** The Windows persona's PowerShell language mode (HostOptions.powershellLanguageMode). */
  powershellLanguageMode?: "FullLanguage" | "ConstrainedLanguage";
  maxShellsPerUser: number;
  maxConcurrentOperationsPerUser: number;
  /** The host's MaxEnvelopeSizekb in bytes: the response limit when a request names none. */
  maxEnvelopeSize: number;
  /** The listener URL, for x:ResourceCreated/a:Address. */
  address: string;
  /** The machine: its stand-ins on every shell's PATH, its Windows prelude (machine.ts). */
  machine?: Machine;
}

/** Who sent a request, and a signal that fires when its connection goes away. */
export interface RequestContext {
  user: string;
  connection: number;
  signal: AbortSignal;
}

type StreamName = "stdout" | "stderr";

interface Chunk {
  stream: StreamName;
  data: Buffer;
}

class Command {
  readonly id = randomUUID().toUpperCase();
  private readonly queue: Chunk[] = [];
  private buffered = 0;
  private paused = false;
  private waiters = new Set<() => void>();
  exitCode: number | undefined;
  /** The process exited and its pipes closed: nothing more will be queued. */
  finished = false;

  constructor(
    readonly shellId: string,
    readonly commandLine: string,
    readonly child: ChildProcessByStdio<Writable, Readable, Readable>,
  ) {
    child.stdout.on("data", (data: Buffer) => this.push("stdout", data));
    child.stderr.on("data", (data: Buffer) => this.push("stderr", data));
    // A child that exits before reading its stdin must not crash the host with EPIPE.
    child.stdin.on("error", () => {});
  }

  private push(stream: StreamName, data: Buffer): void {
    this.queue.push({ stream, data });
    this.buffered += data.length;
    if (!this.paused && this.buffered > HIGH_WATER) {
      this.paused = true;
      this.child.stdout.pause();
      this.child.stderr.pause();
    }
    this.wake();
  }

  finish(exitCode: number): void {
    this.exitCode = exitCode;
    this.finished = true;
    this.wake();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Something for Receive: queued output, or the end. */
  get ready(): boolean {
    return this.queue.length > 0 || this.finished;
  }

  get drained(): boolean {
    return this.queue.length === 0 && this.finished;
  }

  /** Resolves true once ready, false on timeout or abort. */
  waitReady(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.waiters.delete(onReady);
        resolve(value);
      };
      const onReady = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(this.ready), timeoutMs);
      this.waiters.add(onReady);
      signal.addEventListener("abort", onAbort);
    });
  }

  /**
   * Waits up to `ms` for `bytes` of output to be queued, or for the command to end. A command
   * writing steadily fills its pipe 64 KB at a time; answering a Receive with whatever is
   * there at once would make every round trip carry that little, and the round trips, not
   * the bytes, the cost of a large output (issue 15: 2,195 Receives of 123 KB for 200 MB).
   * Windows answers a Receive with what it has gathered, so waiting a moment is in keeping.
   */
  async gather(bytes: number, ms: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.buffered < bytes && !this.finished && !this.paused && !signal.aborted) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /**
   * Takes output in arrival order, consecutive chunks of one stream merged into one segment,
   * while the segments' base64 plus `perSegment` bytes of markup each fit in `room`. Output of
   * streams the client did not ask for is discarded.
   */
  take(wanted: ReadonlySet<StreamName>, room: number, perSegment: number): Chunk[] {
    const segments: Chunk[] = [];
    let left = room;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (!wanted.has(head.stream)) {
        this.consume(head.data.length);
        continue;
      }
      const raw = Math.floor((left - perSegment) / 4) * 3;
      if (raw <= 0) break;
      const parts: Buffer[] = [];
      let size = 0;
      while (this.queue.length > 0 && this.queue[0]!.stream === head.stream && size < raw) {
        const next = this.queue[0]!;
        const piece = Math.min(raw - size, next.data.length);
        parts.push(next.data.subarray(0, piece));
        size += piece;
        this.consume(piece);
      }
      segments.push({ stream: head.stream, data: Buffer.concat(parts, size) });
      left -= perSegment + Math.ceil(size / 3) * 4;
    }
    return segments;
  }

  /** Drops `bytes` from the head of the queue and resumes the pipes once drained enough. */
  private consume(bytes: number): void {
    const head = this.queue[0]!;
    if (bytes >= head.data.length) this.queue.shift();
    else head.data = head.data.subarray(bytes);
    this.buffered -= bytes;
    if (this.paused && this.buffered < LOW_WATER) {
      this.paused = false;
      this.child.stdout.resume();
      this.child.stderr.resume();
    }
  }

  /** Sends a signal to the command's whole process group. */
  kill(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  /**
   * Kills the process group, discards queued output and closes the pipes (a paused pipe would
   * otherwise hold the process's last output forever); resolves once the process has exited.
   */
  end(): Promise<void> {
    const exited =
      this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            this.child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
          });
    this.kill("SIGKILL");
    this.queue.length = 0;
    this.buffered = 0;
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    this.child.stderr.destroy();
    return exited;
  }
}

interface Shell {
  id: string;
  owner: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  codepage: string;
  inputStreams: string;
  outputStreams: string;
  commands: Map<string, Command>;
  /** Recent Receive responses by OperationID, for Robust Connection replays. */
  responses: Map<string, Buffer>;
}

/** Receive responses kept per shell for replay. */
const REPLAY_CACHE_SIZE = 8;

export class WinRsService {
  private readonly shells = new Map<string, Shell>();
  private readonly operations = new Map<string, number>();
  private pwshPath: string | null | undefined;

  constructor(private readonly options: WinRsOptions) {
    this.pwshPath = options.pwsh;
  }

  /** Serves one request for the shell resource; returns the response envelope. */
  async handle(request: RequestEnvelope, context: RequestContext): Promise<string | Buffer> {
    const { action, resourceUri } = request.headers;
    if (action === undefined || action === "")
      throw new HostFault(Faults.headerRequired("a:Action"));
    if (resourceUri !== SHELL_RESOURCE_URI) {
      throw new HostFault(Faults.destinationUnreachable(resourceUri ?? "(none)"));
    }
    const busy = this.operations.get(context.user) ?? 0;
    if (busy >= this.options.maxConcurrentOperationsPerUser) {
      throw new HostFault(Faults.tooManyOperations(this.options.maxConcurrentOperationsPerUser));
    }
    this.operations.set(context.user, busy + 1);
    try {
      return await this.dispatch(action, request, context);
    } finally {
      const left = (this.operations.get(context.user) ?? 1) - 1;
      if (left > 0) this.operations.set(context.user, left);
      else this.operations.delete(context.user);
    }
  }

  private dispatch(
    action: string,
    request: RequestEnvelope,
    context: RequestContext,
  ): Promise<string | Buffer> {
    switch (action) {
      case Action.CREATE:
        return Promise.resolve(this.create(request, context));
      case Action.COMMAND:
        return Promise.resolve(this.command(request, context));
      case Action.SEND:
        return this.send(request, context);
      case Action.RECEIVE:
        return this.receive(request, context);
      case Action.SIGNAL:
        return Promise.resolve(this.signal(request, context));
      case Action.DELETE:
        return Promise.resolve(this.delete(request, context));
      default:
        throw new HostFault(Faults.actionNotSupported(action));
    }
  }

  /** Kills every process group of every shell and waits (briefly) for them to exit. */
  async closeAll(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const shell of this.shells.values()) {
      for (const command of shell.commands.values()) exits.push(command.end());
    }
    this.shells.clear();
    await Promise.all(exits);
  }

  /** Shells currently open, for tests. */
  get openShells(): number {
    return this.shells.size;
  }

  // -- Create (MS-WSMV 3.1.4.5) -----------------------------------------------------------------

  private create(request: RequestEnvelope, context: RequestContext): string {
    const owned = [...this.shells.values()].filter((shell) => shell.owner === context.user).length;
    if (owned >= this.options.maxShellsPerUser) {
      throw new HostFault(Faults.tooManyShells(this.options.maxShellsPerUser));
    }
    const body = child(request.body, "Shell");
    if (body === undefined) throw new HostFault(Faults.malformed("Create needs an rsp:Shell body"));
    const env: NodeJS.ProcessEnv = this.options.machine
      ? this.options.machine.shellEnvironment(process.env)
      : { ...process.env };
    for (const variable of children(child(body, "Environment"), "Variable")) {
      const name = attribute(variable, "Name");
      if (name) env[name] = text(variable) ?? "";
    }
    const cwd = text(child(body, "WorkingDirectory")) || process.cwd();
    if (!isDirectory(cwd)) throw new HostFault(Faults.invalidDirectory(cwd));
    const shell: Shell = {
      id: this.newShellId(body),
      owner: context.user,
      env,
      cwd,
      codepage: request.headers.options.get("WINRS_CODEPAGE") ?? "437",
      inputStreams: text(child(body, "InputStreams")) || "stdin",
      outputStreams: text(child(body, "OutputStreams")) || "stdout stderr",
      commands: new Map(),
      responses: new Map(),
    };
    this.shells.set(shell.id, shell);
    this.options.log.record(LogKind.SHELL_CREATED, {
      user: context.user,
      shellId: shell.id,
      connection: context.connection,
      detail: `codepage ${shell.codepage}, cwd ${shell.cwd}`,
    });
    const id = escapeXml(shell.id);
    return buildResponse(
      `${Action.CREATE}Response`,
      request.headers.messageId,
      `<x:ResourceCreated><a:Address>${escapeXml(this.options.address)}</a:Address>` +
        `<a:ReferenceParameters><w:ResourceURI>${SHELL_RESOURCE_URI}</w:ResourceURI>` +
        `<w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet>` +
        `</a:ReferenceParameters></x:ResourceCreated>` +
        `<rsp:Shell><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${SHELL_RESOURCE_URI}</rsp:ResourceUri>` +
        `<rsp:Owner>${escapeXml(shell.owner)}</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP>` +
        `<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>` +
        `<rsp:InputStreams>${escapeXml(shell.inputStreams)}</rsp:InputStreams>` +
        `<rsp:OutputStreams>${escapeXml(shell.outputStreams)}</rsp:OutputStreams>` +
        `<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>` +
        `</rsp:Shell>`,
    );
  }

  /**
   * The client's own ShellId when it sent one (the ShellId attribute of rsp:Shell, a GUID, as
   * WSManCreateShellEx's shellId and MS-PSRP clients send it), else a new one. A client that
   * names its shell can delete it even when the reply to its Create is lost.
   */
  private newShellId(body: XmlNode): string {
    const chosen = attribute(body, "ShellId");
    if (chosen === undefined) return randomUUID().toUpperCase();
    if (!/^[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}$/i.test(chosen)) {
      throw new HostFault(Faults.malformed(`ShellId "${chosen}" is not a GUID`));
    }
    const id = chosen.toUpperCase();
    if (this.shells.has(id)) throw new HostFault(Faults.shellExists(id));
    return id;
  }

  private shellFor(request: RequestEnvelope, context: RequestContext): Shell {
    const id = request.headers.selectors.get("ShellId");
    if (id === undefined) throw new HostFault(Faults.missingShellId());
    const shell = this.shells.get(id.toUpperCase());
    // Another user's shell is as invisible as a missing one.
    if (shell === undefined || shell.owner !== context.user) {
      throw new HostFault(Faults.shellNotFound(id));
    }
    return shell;
  }

  private commandFor(shell: Shell, id: string | undefined): Command {
    if (id === undefined || id === "")
      throw new HostFault(Faults.malformed("CommandId is missing"));
    const command = shell.commands.get(id.toUpperCase());
    if (command === undefined) throw new HostFault(Faults.commandNotFound(id));
    return command;
  }

  // -- Command (MS-WSMV 3.1.4.11) ---------------------------------------------------------------

  private command(request: RequestEnvelope, context: RequestContext): string {
    const shell = this.shellFor(request, context);
    const line = child(request.body, "CommandLine");
    const program = text(child(line, "Command"))?.trim();
    if (line === undefined || !program) {
      throw new HostFault(Faults.malformed("Command needs rsp:CommandLine/rsp:Command"));
    }
    const args = children(line, "Arguments").map((node) => text(node) ?? "");
    const skipShell = request.headers.options.get("WINRS_SKIP_CMD_SHELL")?.toUpperCase() === "TRUE";
    const commandLine = [program, ...args].join(" ");

    let file: string;
    let argv: string[];
    if (this.options.persona === "windows" && POWERSHELL.test(program)) {
      const operator = skipShell ? undefined : cmdOperatorOutsideQuotes(commandLine);
      if (operator !== undefined) {
        throw new HostFault(
          Faults.programNotFound(
            "cmd.exe",
            `the loopback host has no cmd.exe to interpret ${JSON.stringify(operator)} in a PowerShell command line; pass the whole script to PowerShell instead`,
          ),
        );
      }
      file = this.pwsh();
      argv = splitWindowsCommandLine(commandLine).slice(1);
      if (this.options.machine && argv.some(isEncodedCommandFlag)) {
        argv = withPrelude(argv, this.options.machine.windowsPrelude());
      }
      if (this.options.powershellLanguageMode === "ConstrainedLanguage") {
        argv = inConstrainedLanguage(argv);
      }
    } else if (skipShell) {
      const target = POWERSHELL.test(program) ? this.pwsh() : program;
      const resolved = resolveProgram(target, shell.env.PATH);
      if (resolved === undefined) {
        throw new HostFault(Faults.programNotFound(target, "not found on PATH or not executable"));
      }
      file = resolved;
      argv = args;
    } else {
      file = this.options.shell;
      argv = [
        "-c",
        POWERSHELL.test(commandLine) ? commandLine.replace(POWERSHELL, this.pwsh()) : commandLine,
      ];
    }

    const spawned = spawn(file, argv, {
      cwd: shell.cwd,
      env: shell.env,
      detached: true, // its own process group (setsid), killed as a whole
      stdio: ["pipe", "pipe", "pipe"],
    });
    const command = new Command(shell.id, commandLine, spawned);
    shell.commands.set(command.id, command);
    const log = this.options.log;
    const consoleMode = request.headers.options.get("WINRS_CONSOLEMODE_STDIN")?.toUpperCase();
    const fields = {
      user: context.user,
      shellId: shell.id,
      commandId: command.id,
      commandLine,
      connection: context.connection,
      stdinMode: consoleMode === "FALSE" ? ("pipe" as const) : ("console" as const),
    };
    spawned.once("error", (error) => {
      // spawn failed (e.g. the shell itself is missing): report it like cmd.exe would, exit 1.
      command.child.stderr.emit("data", Buffer.from(`${error.message}\n`));
      if (!command.finished) {
        command.finish(1);
        log.record(LogKind.COMMAND_EXITED, { ...fields, exitCode: 1, detail: error.message });
      }
    });
    spawned.once("close", (code, signal) => {
      if (command.finished) return;
      const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
      command.finish(exitCode);
      log.record(LogKind.COMMAND_EXITED, { ...fields, exitCode, detail: signal ?? undefined });
    });
    log.record(LogKind.COMMAND_STARTED, fields);
    return buildResponse(
      `${Action.COMMAND}Response`,
      request.headers.messageId,
      `<rsp:CommandResponse><rsp:CommandId>${command.id}</rsp:CommandId></rsp:CommandResponse>`,
    );
  }

  /** The pwsh executable, or the fault that says PowerShell is missing. */
  private pwsh(): string {
    if (this.pwshPath === undefined) this.pwshPath = findPwsh() ?? null;
    if (this.pwshPath === null) {
      throw new HostFault(
        Faults.programNotFound(
          "powershell.exe",
          "PowerShell is not installed on this loopback host; install pwsh (PowerShell 7) to run PowerShell commands",
        ),
      );
    }
    return this.pwshPath;
  }

  // -- Send (MS-WSMV 3.1.4.12) ------------------------------------------------------------------

  private async send(request: RequestEnvelope, context: RequestContext): Promise<string> {
    const shell = this.shellFor(request, context);
    const streams = children(child(request.body, "Send"), "Stream");
    if (streams.length === 0) throw new HostFault(Faults.malformed("Send needs rsp:Stream"));
    for (const stream of streams) {
      const command = this.commandFor(shell, attribute(stream, "CommandId"));
      const data = streamData(request, stream);
      const stdin = command.child.stdin;
      if (data.length > 0 && stdin.writable) {
        // Answered once the pipe has room: while at most this Send's data waits to be read, as
        // a pipe buffer holds it, so the host unseals the next Send while the command reads
        // this one; held while the command has not taken the Send before it.
        if (!stdin.write(data) && stdin.writableLength > data.length) {
          await new Promise<void>((resolve) => {
            const done = () => {
              stdin.off("drain", done);
              stdin.off("close", done);
              resolve();
            };
            stdin.on("drain", done);
            stdin.on("close", done);
          });
        }
      }
      if (attribute(stream, "End")?.toLowerCase() === "true") stdin.end();
    }
    return buildResponse(
      `${Action.SEND}Response`,
      request.headers.messageId,
      "<rsp:SendResponse/>",
    );
  }

  // -- Receive (MS-WSMV 3.1.4.13) ---------------------------------------------------------------

  private async receive(request: RequestEnvelope, context: RequestContext): Promise<Buffer> {
    const shell = this.shellFor(request, context);
    const desired = child(child(request.body, "Receive"), "DesiredStream");
    const command = this.commandFor(shell, attribute(desired, "CommandId"));
    const wanted = new Set<StreamName>(
      (text(desired) || "stdout stderr")
        .split(/\s+/)
        .filter((name): name is StreamName => name === "stdout" || name === "stderr"),
    );
    // Robust Connection (MS-WSMV 3.1.4.1.39): a Receive repeated with the same OperationID after
    // a lost response gets that response again instead of the next output, so nothing is lost.
    const operationId = request.headers.operationId;
    const replay = operationId === undefined ? undefined : shell.responses.get(operationId);
    if (replay !== undefined) {
      return Buffer.from(
        replay
          .toString("utf8")
          .replace(
            /<a:RelatesTo>[^<]*<\/a:RelatesTo>/,
            `<a:RelatesTo>${escapeXml(request.headers.messageId ?? "")}</a:RelatesTo>`,
          ),
        "utf8",
      );
    }
    const timeoutMs = request.headers.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    if (!(await command.waitReady(timeoutMs, context.signal))) {
      // No output in time: w:TimedOut, 2150858793; clients receive again (MS-WSMV 3.1.4.13).
      throw new HostFault(Faults.timedOut());
    }

    // The response must fit the request's MaxEnvelopeSize (WS-Management 6.2), so measure the
    // envelope without data (in its largest form, Done) and fill what is left with base64.
    const limit = request.headers.maxEnvelopeSize ?? this.options.maxEnvelopeSize;
    const robustHeaders =
      operationId === undefined
        ? ""
        : `<p:OperationID>${escapeXml(operationId)}</p:OperationID><p:SequenceID>1</p:SequenceID>`;
    // The output goes into the response's bytes as base64 a slice at a time, never as one
    // large string (provider/winrm/wsman/payloads.ts says why): the host must not be what a
    // benchmark of output measures (issue 15).
    const render = (segments: Chunk[], done: boolean) =>
      messageWithPayloads(
        buildResponse(
          `${Action.RECEIVE}Response`,
          request.headers.messageId,
          receiveBody(command, segments, done, wanted),
          robustHeaders,
        ),
        segments.map((segment) => segment.data),
      );
    const fixed = render([], true).length;
    const perSegment =
      Buffer.byteLength(streamElement("stdout", command.id, false)) - PAYLOAD_PLACE.length;
    const room = limit - fixed;
    if (room < perSegment + 4) throw new HostFault(Faults.envelopeSizeTooSmall(limit));
    // Enough output to fill most of the envelope (base64 takes 4 characters for 3 bytes).
    await command.gather(Math.floor((room * 3) / 4 / 2), GATHER_MS, context.signal);
    const segments = command.take(wanted, room, perSegment);
    const response = render(segments, command.drained);
    if (response.length > limit) {
      throw new Error(`Receive response of ${response.length} bytes exceeds ${limit}`);
    }
    if (operationId !== undefined) {
      shell.responses.set(operationId, response);
      // Only the latest few can still be asked for again.
      for (const key of shell.responses.keys()) {
        if (shell.responses.size <= REPLAY_CACHE_SIZE) break;
        shell.responses.delete(key);
      }
    }
    return response;
  }

  // -- Signal (MS-WSMV 3.1.4.14) ----------------------------------------------------------------

  private signal(request: RequestEnvelope, context: RequestContext): string {
    const shell = this.shellFor(request, context);
    const node = child(request.body, "Signal");
    const command = this.commandFor(shell, attribute(node, "CommandId"));
    const code = text(child(node, "Code"))?.trim() ?? "";
    switch (code) {
      case SignalCode.TERMINATE:
        // Ends the command and forgets it: clients send this after Done to release it.
        void command.end();
        shell.commands.delete(command.id);
        break;
      case SignalCode.CTRL_C:
        command.kill("SIGINT");
        break;
      case SignalCode.CTRL_BREAK:
        command.kill("SIGQUIT");
        break;
      default:
        throw new HostFault(Faults.malformed(`unknown signal code ${code}`));
    }
    this.options.log.record(LogKind.SIGNAL, {
      user: context.user,
      shellId: shell.id,
      commandId: command.id,
      commandLine: command.commandLine,
      connection: context.connection,
      detail: code,
    });
    return buildResponse(
      `${Action.SIGNAL}Response`,
      request.headers.messageId,
      "<rsp:SignalResponse/>",
    );
  }

  // -- Delete (MS-WSMV 3.1.4.6) -----------------------------------------------------------------

  private delete(request: RequestEnvelope, context: RequestContext): string {
    const shell = this.shellFor(request, context);
    for (const command of shell.commands.values()) void command.end();
    this.shells.delete(shell.id);
    this.options.log.record(LogKind.SHELL_DELETED, {
      user: context.user,
      shellId: shell.id,
      connection: context.connection,
    });
    return buildResponse(`${Action.DELETE}Response`, request.headers.messageId, "");
  }
}

/**
 * A Stream element: an output segment (its base64 goes where PAYLOAD_PLACE is, written by
 * messageWithPayloads), or with `end` the empty one that ends the stream.
 */
function streamElement(stream: StreamName, commandId: string, end: boolean): string {
  return end
    ? `<rsp:Stream Name="${stream}" CommandId="${commandId}" End="true"></rsp:Stream>`
    : `<rsp:Stream Name="${stream}" CommandId="${commandId}">${PAYLOAD_PLACE}</rsp:Stream>`;
}

/**
 * rsp:ReceiveResponse: the output segments, then (when everything has been delivered) an empty
 * End="true" stream per wanted stream and CommandState Done with the ExitCode, as Windows sends.
 */
function receiveBody(
  command: Command,
  segments: Chunk[],
  done: boolean,
  wanted: ReadonlySet<StreamName>,
): string {
  let body = "<rsp:ReceiveResponse>";
  for (const segment of segments) body += streamElement(segment.stream, command.id, false);
  if (done) {
    for (const stream of ["stdout", "stderr"] as const) {
      if (wanted.has(stream)) body += streamElement(stream, command.id, true);
    }
    body +=
      `<rsp:CommandState CommandId="${command.id}" State="${COMMAND_STATE}/Done">` +
      `<rsp:ExitCode>${command.exitCode ?? 0}</rsp:ExitCode></rsp:CommandState>`;
  } else {
    body += `<rsp:CommandState CommandId="${command.id}" State="${COMMAND_STATE}/Running"/>`;
  }
  return `${body}</rsp:ReceiveResponse>`;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The pwsh that stands in for powershell.exe: `pwsh` on PATH; else the copy of the pinned
 * PowerShell that test/setup/pwsh.sh compiled ahead of time into the cache (it starts in half
 * the CPU time); else the .NET global tool it installs into ~/.dotnet/tools (a folder that
 * `dotnet tool install --global` does not put on PATH by itself).
 */
export function findPwsh(): string | undefined {
  const cache =
    process.env.PULUMI_WINRM_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "pulumi-winrm");
  return (
    resolveProgram("pwsh", process.env.PATH) ??
    resolveProgram(join(cache, "pwsh-readytorun", "pwsh"), undefined) ??
    resolveProgram(join(homedir(), ".dotnet", "tools", "pwsh"), undefined)
  );
}

/** Finds a program as execvp would: a path as given, else the first match on PATH. */
export function resolveProgram(program: string, path: string | undefined): string | undefined {
  const name = program.replace(/^"(.*)"$/, "$1");
  if (name.includes("/"))
    return isExecutable(name) ? (isAbsolute(name) ? name : join(process.cwd(), name)) : undefined;
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}
