/**
 * The machine behind the loopback host: its boot time, whether a restart is pending, and a
 * restart that behaves as a rebooting host does for a WinRM client. Every connection closes,
 * the port stops answering for a while, then the host comes back on the same port with a new
 * boot time and none of its shells (issue 17).
 *
 * Commands on the host reach the machine through stand-ins for the tools a real host has, in
 * a folder put first on every shell's PATH:
 * - `shutdown.exe` (Windows: /r, /s, /a, /t, /d, /c, /f) and `shutdown` (POSIX: -r, -h, -P,
 *   -c, `now`, `+M`, a message). They forward their arguments over a Unix socket to this
 *   process, which answers as the real tool would: exit 1190 when a shutdown is already
 *   scheduled, 1116 when /a finds none (winerror.h), and schedules the restart otherwise;
 * - `uptime -s` (procps): the boot time as local "YYYY-MM-DD HH:MM:SS";
 * - `needs-restarting -r` (dnf-utils, RHEL): exit 1 when a restart is pending, 0 when not.
 * The Windows persona's PowerShell also gets what pwsh on Linux lacks (windowsPrelude): an
 * HKLM: drive over a folder, where a pending restart shows as Component Based Servicing's
 * RebootPending key, and Get-CimInstance for Win32_OperatingSystem's LastBootUpTime.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** What a restart does to the host process: close, stay down for a while, come back. */
export interface RestartHooks {
  /** Stop listening, close every connection, end every process and forget every shell. */
  goDown(reason: string): Promise<void>;
  /** Listen again on the same port. */
  comeBack(): Promise<void>;
}

export interface MachineOptions {
  /** How long the host stays down during a restart; default 3000 ms. */
  restartDownMs?: number;
}

/** The answer a stand-in prints and exits with. */
interface ToolReply {
  code: number;
  stdout?: string;
  stderr?: string;
}

/** Windows' error codes for shutdown.exe (winerror.h). */
const ERROR_SHUTDOWN_IS_SCHEDULED = 1190;
const ERROR_NO_SHUTDOWN_IN_PROGRESS = 1116;
/** shutdown.exe's default delay without /t, and its maximum (10 years). */
const WINDOWS_DEFAULT_DELAY_S = 30;
const WINDOWS_MAX_DELAY_S = 315_360_000;
/**
 * A POSIX `shutdown now` takes effect at once, but systemd needs a moment to reach the
 * services: the stand-in gives the command's reply that moment.
 */
const POSIX_NOW_DELAY_MS = 500;

/** The registry key whose presence means Component Based Servicing needs a restart. */
export const CBS_REBOOT_PENDING =
  "SOFTWARE/Microsoft/Windows/CurrentVersion/Component Based Servicing/RebootPending";

interface Scheduled {
  timer: NodeJS.Timeout;
  kind: "restart" | "power-off";
  reason: string;
}

export class Machine {
  /** The folder that holds the stand-ins, the fake registry and the control socket. */
  readonly dir: string;
  readonly binDir: string;
  private readonly registryRoot: string;
  private readonly socketPath: string;
  private server: Server | undefined;
  private bootTime = new Date();
  private pending = false;
  private scheduled: Scheduled | undefined;
  private down = false;
  private restarting: Promise<void> | undefined;
  private hooks: RestartHooks | undefined;
  private readonly restartDownMs: number;
  /** Restarts done, for tests. */
  restarts = 0;
  /** When set, a restart goes down and never comes back: a host that failed to boot. */
  failToBoot = false;

  constructor(options: MachineOptions = {}) {
    this.restartDownMs = options.restartDownMs ?? 3000;
    this.dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-machine-"));
    this.binDir = join(this.dir, "bin");
    this.registryRoot = join(this.dir, "registry", "HKLM");
    this.socketPath = join(this.dir, "control.sock");
    mkdirSync(this.binDir);
    mkdirSync(this.registryRoot, { recursive: true });
    this.writeStandIns();
    this.writeBootTime();
  }

  /** Starts answering the stand-ins; `hooks` perform the restart on the host process. */
  async start(hooks: RestartHooks): Promise<void> {
    this.hooks = hooks;
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** The environment of a new shell: the stand-ins come first on PATH. */
  shellEnvironment(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...base, PATH: [this.binDir, base.PATH ?? ""].filter(Boolean).join(delimiter) };
  }

  /** When the machine last booted: the host's start, or its last restart. */
  get lastBootTime(): Date {
    return this.bootTime;
  }

  get restartPending(): boolean {
    return this.pending;
  }

  /**
   * The switch for `when: "pending"`: a pending restart shows as CBS's RebootPending key on
   * the Windows persona and as `needs-restarting -r` exiting 1 on the POSIX one. A restart
   * clears it, as servicing does once the restart has completed its work.
   */
  setRestartPending(pending: boolean): void {
    this.pending = pending;
    const key = join(this.registryRoot, ...CBS_REBOOT_PENDING.split("/"));
    if (pending) mkdirSync(key, { recursive: true });
    else rmSync(key, { recursive: true, force: true });
    writeFileSync(join(this.dir, "restart-pending"), pending ? "1\n" : "0\n");
  }

  /** Restarts now, as the stand-ins do when their delay runs out; resolves once back. */
  restartNow(reason = "restart requested by the test"): Promise<void> {
    this.cancelScheduled();
    return this.restart("restart", reason);
  }

  /**
   * PowerShell the Windows persona runs before every -EncodedCommand: the parts of a Windows
   * machine that pwsh on Linux lacks. Kept to one line of definitions, so that an error's line
   * number in a script is off by one at most.
   */
  windowsPrelude(): string {
    const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;
    const bootFile = quote(join(this.dir, "boot-time"));
    return (
      `$null = New-PSDrive -Name HKLM -PSProvider FileSystem -Root ${quote(this.registryRoot)} -Scope Global; ` +
      `function global:Get-CimInstance { param([Parameter(Position = 0)][string]$ClassName, [string[]]$Property, [string]$Namespace, [string]$Filter, [Parameter(ValueFromRemainingArguments = $true)]$Rest) ` +
      `if ($ClassName -ne 'Win32_OperatingSystem') { throw "the loopback host stands in for Win32_OperatingSystem only, not $ClassName" } ` +
      `[pscustomobject]@{ LastBootUpTime = [datetime]::Parse([IO.File]::ReadAllText(${bootFile}).Trim(), [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind).ToLocalTime() } }`
    );
  }

  async close(): Promise<void> {
    this.cancelScheduled();
    this.failToBoot = true;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  // -- the restart ------------------------------------------------------------------------------

  private cancelScheduled(): boolean {
    if (this.scheduled === undefined) return false;
    clearTimeout(this.scheduled.timer);
    this.scheduled = undefined;
    return true;
  }

  private schedule(kind: Scheduled["kind"], delayMs: number, reason: string): void {
    const timer = setTimeout(() => {
      this.scheduled = undefined;
      this.restart(kind, reason).catch((error: unknown) =>
        console.error("loopback machine: the restart failed:", error),
      );
    }, delayMs);
    this.scheduled = { timer, kind, reason };
  }

  private restart(kind: Scheduled["kind"], reason: string): Promise<void> {
    this.restarting ??= this.cycle(kind, reason).finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  /** Down (unless already), then, for a restart of a machine that boots, back up. */
  private async cycle(kind: Scheduled["kind"], reason: string): Promise<void> {
    const hooks = this.hooks;
    if (hooks === undefined) throw new Error("the machine has not started");
    if (!this.down) {
      this.down = true;
      await hooks.goDown(reason);
    }
    if (kind === "power-off" || this.failToBoot) return;
    await new Promise((resolve) => setTimeout(resolve, this.restartDownMs));
    if (this.failToBoot) return;
    this.restarts++;
    this.bootTime = new Date();
    this.writeBootTime();
    if (this.pending) this.setRestartPending(false);
    await hooks.comeBack();
    this.down = false;
  }

  private writeBootTime(): void {
    writeFileSync(join(this.dir, "boot-time"), `${this.bootTime.toISOString()}\n`);
    // uptime -s prints local time, to the second.
    const local = (date: Date) => {
      const two = (value: number) => String(value).padStart(2, "0");
      return (
        `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
        `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
      );
    };
    writeFileSync(join(this.dir, "boot-time-local"), `${local(this.bootTime)}\n`);
  }

  // -- the stand-ins ----------------------------------------------------------------------------

  private writeStandIns(): void {
    const sh = (text: string) => `#!/bin/sh\n${text}\n`;
    const quoted = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
    const forward = join(this.dir, "forward.js");
    writeFileSync(forward, FORWARD_SCRIPT);
    const node = quoted(process.execPath);
    const tool = (name: string, body: string) => {
      const path = join(this.binDir, name);
      writeFileSync(path, sh(body));
      chmodSync(path, 0o755);
    };
    const socket = quoted(this.socketPath);
    tool("shutdown.exe", `exec ${node} ${quoted(forward)} ${socket} shutdown.exe "$@"`);
    tool("shutdown", `exec ${node} ${quoted(forward)} ${socket} shutdown "$@"`);
    tool(
      "uptime",
      [
        `if [ "$1" = "-s" ]; then cat ${quoted(join(this.dir, "boot-time-local"))}; exit 0; fi`,
        `echo "the loopback host's uptime stands in for uptime -s only" >&2`,
        "exit 1",
      ].join("\n"),
    );
    tool(
      "needs-restarting",
      [
        `if [ "$1" != "-r" ]; then echo "the loopback host's needs-restarting stands in for -r only" >&2; exit 2; fi`,
        `if [ "$(cat ${quoted(join(this.dir, "restart-pending"))} 2>/dev/null)" = 1 ]; then`,
        "  echo 'Reboot is required to fully utilize these updates.'; exit 1",
        "fi",
        "echo 'No core libraries or services have been updated since boot-up.'; exit 0",
      ].join("\n"),
    );
    writeFileSync(join(this.dir, "restart-pending"), "0\n");
  }

  private serve(socket: Socket): void {
    let text = "";
    let answered = false;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      if (answered) return;
      text += chunk;
      const end = text.indexOf("\n");
      if (end < 0) return;
      answered = true;
      let reply: ToolReply;
      try {
        const request = JSON.parse(text.slice(0, end)) as { tool: string; args: string[] };
        reply =
          request.tool === "shutdown.exe"
            ? this.windowsShutdown(request.args)
            : this.posixShutdown(request.args);
      } catch (error) {
        reply = { code: 1, stderr: `loopback machine: ${(error as Error).message}\n` };
      }
      socket.end(`${JSON.stringify(reply)}\n`);
    });
    socket.on("error", () => socket.destroy());
  }

  /** shutdown.exe as Windows answers it (shutdown /?). */
  private windowsShutdown(args: string[]): ToolReply {
    let action: "restart" | "power-off" | "abort" | undefined;
    let delay = WINDOWS_DEFAULT_DELAY_S;
    let comment = "";
    for (let index = 0; index < args.length; index++) {
      const flag = args[index]!.toLowerCase().replace(/^-/, "/");
      switch (flag) {
        case "/r":
        case "/g":
          action = "restart";
          break;
        case "/s":
        case "/p":
          action = "power-off";
          break;
        case "/a":
          action = "abort";
          break;
        case "/f":
          break;
        case "/t": {
          const value = Number(args[++index]);
          if (!Number.isInteger(value) || value < 0 || value > WINDOWS_MAX_DELAY_S) {
            return usage(`/t needs a delay from 0 to ${WINDOWS_MAX_DELAY_S} seconds`);
          }
          delay = value;
          break;
        }
        case "/d": {
          const value = args[++index] ?? "";
          if (!/^([pu]:)?\d+:\d+$/i.test(value)) return usage(`/d needs [p|u:]xx:yy`);
          break;
        }
        case "/c": {
          const value = args[++index];
          if (value === undefined || value.length > 512) {
            return usage("/c needs a comment of at most 512 characters");
          }
          comment = value;
          break;
        }
        default:
          return usage(`unknown option ${args[index]}`);
      }
    }
    if (action === undefined) return usage("give /r, /s or /a");
    if (action === "abort") {
      if (this.cancelScheduled()) return { code: 0 };
      return {
        code: ERROR_NO_SHUTDOWN_IN_PROGRESS,
        stderr: "Unable to abort the system shutdown because no shutdown was in progress.(1116)\n",
      };
    }
    if (this.scheduled !== undefined || this.down) {
      return {
        code: ERROR_SHUTDOWN_IS_SCHEDULED,
        stderr: "A system shutdown has already been scheduled.(1190)\n",
      };
    }
    this.schedule(action, delay * 1000, comment || "shutdown.exe");
    return { code: 0 };
  }

  /** shutdown as systemd's and sysvinit's take it: [-r|-h|-P|-c] [TIME] [MESSAGE]. */
  private posixShutdown(args: string[]): ToolReply {
    let action: "restart" | "power-off" | "cancel" = "power-off";
    const rest: string[] = [];
    for (const arg of args) {
      if (arg === "-r" || arg === "--reboot") action = "restart";
      else if (arg === "-h" || arg === "-P" || arg === "--poweroff") action = "power-off";
      else if (arg === "-c") action = "cancel";
      else if (arg.startsWith("-")) return { code: 1, stderr: `shutdown: invalid option ${arg}\n` };
      else rest.push(arg);
    }
    if (action === "cancel") {
      this.cancelScheduled();
      return { code: 0 };
    }
    const [when = "+1", ...message] = rest;
    let delayMs: number;
    if (when === "now") delayMs = POSIX_NOW_DELAY_MS;
    else if (/^\+\d+$/.test(when))
      delayMs = Math.max(POSIX_NOW_DELAY_MS, Number(when.slice(1)) * 60_000);
    else
      return {
        code: 1,
        stderr: `shutdown: the loopback host takes "now" or +MINUTES, not ${when}\n`,
      };
    // systemd replaces a scheduled shutdown with a new one.
    this.cancelScheduled();
    if (this.down) return { code: 0 };
    this.schedule(action, delayMs, message.join(" ") || "shutdown");
    return { code: 0 };
  }
}

function usage(reason: string): ToolReply {
  return { code: 87, stderr: `shutdown.exe: ${reason}. The parameter is incorrect.(87)\n` };
}

/**
 * The stand-ins' client: sends {tool, args} as one JSON line, prints the reply's output and
 * exits with its code. A machine that went away (the host closed) is exit 1.
 */
const FORWARD_SCRIPT = `"use strict";
const net = require("node:net");
const [socketPath, tool, ...args] = process.argv.slice(2);
const socket = net.connect(socketPath);
let text = "";
socket.setEncoding("utf8");
socket.on("connect", () => socket.write(JSON.stringify({ tool, args }) + "\\n"));
socket.on("data", (chunk) => (text += chunk));
socket.on("error", (error) => {
  process.stderr.write(tool + ": the machine does not answer: " + error.message + "\\n");
  process.exitCode = 1;
});
socket.on("close", () => {
  if (text === "") return;
  const reply = JSON.parse(text);
  if (reply.stdout) process.stdout.write(reply.stdout);
  if (reply.stderr) process.stderr.write(reply.stderr);
  process.exitCode = reply.code;
});
`;
