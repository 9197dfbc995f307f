/**
 * WinRMClient: the facade the resources and the command-line tool use. It owns a transport
 * (a pool of authenticated connections) and a pool of WinRS shells reused across commands.
 */
import { ProtocolError, WSManFault } from "../errors";
import { type CommandOptions, type CommandResult, runInShell } from "./command";
import { type ClientOptions, resolveClientOptions, type ResolvedClientOptions } from "./options";
import { type ShellOptions, type ShellSettings, WinRSShell } from "./shell";
import { Transport } from "./transport";
import { buildIdentify, child, parseEnvelope, parseFault, text } from "./wsman";

export interface IdentifyResult {
  protocolVersion: string;
  productVendor: string;
  productVersion: string;
  /** True when the host is Windows (its vendor is Microsoft). */
  windows: boolean;
}

export interface RunOptions extends CommandOptions {
  /** Environment and working directory get a shell of their own, not a pooled one. */
  environment?: Record<string, string>;
  workingDirectory?: string;
}

/** Room left in each envelope for headers and the Send element around the base64 payload. */
const ENVELOPE_OVERHEAD = 4096;
/** How long to wait before asking again for a shell the host refused for quota. */
const QUOTA_RETRY_MS = 500;

export class WinRMClient {
  readonly options: ResolvedClientOptions;
  private readonly transport: Transport;
  private readonly idle: WinRSShell[] = [];
  private shellCount = 0;
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(options: ClientOptions) {
    this.options = resolveClientOptions(options);
    this.transport = new Transport(this.options.transport);
  }

  get endpoint(): string {
    return this.options.transport.endpoint.href;
  }

  private get settings(): ShellSettings {
    return {
      to: this.endpoint,
      operationTimeoutSeconds: this.options.operationTimeoutSeconds,
      maxEnvelopeSize: this.options.maxEnvelopeSize,
      locale: this.options.locale,
    };
  }

  /** Largest stdin chunk whose base64 form fits in one envelope. */
  get stdinChunkBytes(): number {
    return Math.floor((this.options.maxEnvelopeSize - ENVELOPE_OVERHEAD) / 4) * 3;
  }

  /** WS-Management Identify (DSP0226 11): who the host says it is. */
  async identify(): Promise<IdentifyResult> {
    const reply = await this.transport.request(Buffer.from(buildIdentify(), "utf8"), {
      idempotent: true,
      timeoutMs: (this.options.operationTimeoutSeconds + 30) * 1000,
    });
    const { body } = parseEnvelope(reply.soap.toString("utf8"));
    const fault = parseFault(body);
    if (fault) throw fault;
    const response = child(body, "IdentifyResponse");
    if (!response) throw new ProtocolError("IdentifyResponse", "missing from the reply");
    const productVendor = text(child(response, "ProductVendor")).trim();
    return {
      protocolVersion: text(child(response, "ProtocolVersion")).trim(),
      productVendor,
      productVersion: text(child(response, "ProductVersion")).trim(),
      windows: /microsoft/i.test(productVendor),
    };
  }

  /**
   * Runs a command and resolves with its exit code and the tail of its output; stream the
   * output with onStdout and onStderr. A non-zero exit code is a result, not an error.
   */
  async run(
    command: string,
    args: readonly string[] = [],
    options: RunOptions = {},
  ): Promise<CommandResult> {
    const custom = options.environment !== undefined || options.workingDirectory !== undefined;
    if (custom) {
      return this.withDedicatedShell(
        { environment: options.environment, workingDirectory: options.workingDirectory },
        (shell) => runInShell(shell, command, args, options, this.stdinChunkBytes),
      );
    }
    const shell = await this.acquireShell();
    let healthy = true;
    try {
      return await runInShell(shell, command, args, options, this.stdinChunkBytes);
    } catch (error) {
      healthy =
        !(error instanceof WSManFault) ||
        error.subcode === undefined ||
        !/InvalidSelectors/i.test(error.subcode);
      throw error;
    } finally {
      this.releaseShell(shell, healthy);
    }
  }

  private async withDedicatedShell<T>(
    options: ShellOptions,
    work: (shell: WinRSShell) => Promise<T>,
  ): Promise<T> {
    await this.reserveSlot();
    let shell: WinRSShell | undefined;
    try {
      shell = await this.createShell(options);
      return await work(shell);
    } finally {
      if (shell) await shell.delete().catch(() => undefined);
      this.shellCount--;
      this.waiting.shift()?.();
    }
  }

  /** An idle pooled shell, or a new one while under maxShells; otherwise wait for one. */
  private async acquireShell(): Promise<WinRSShell> {
    const idle = this.idle.pop();
    if (idle) return idle;
    await this.reserveSlot();
    const reused = this.idle.pop();
    if (reused) {
      this.shellCount--;
      return reused;
    }
    try {
      return await this.createShell({});
    } catch (error) {
      this.shellCount--;
      this.waiting.shift()?.();
      throw error;
    }
  }

  /** Waits until fewer than maxShells shells exist, then counts one more. */
  private async reserveSlot(): Promise<void> {
    for (;;) {
      if (this.closed) throw new ProtocolError("WinRMClient", "the client is closed");
      if (this.shellCount < this.options.maxShells) {
        this.shellCount++;
        return;
      }
      if (this.idle.length > 0) {
        // Trade an idle pooled shell for the slot.
        const shell = this.idle.pop()!;
        await shell.delete().catch(() => undefined);
        return;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /**
   * Creates a shell; when the host's per-user quota (MaxShellsPerUser) is exhausted by other
   * clients, waits and asks again rather than failing, within the ready timeout.
   */
  private async createShell(options: ShellOptions): Promise<WinRSShell> {
    const deadline = Date.now() + Math.max(this.options.transport.readyTimeoutMs, 60_000);
    for (;;) {
      try {
        return await WinRSShell.create(this.transport, this.settings, options);
      } catch (error) {
        const quota = error instanceof WSManFault && /QuotaLimit/i.test(error.subcode ?? "");
        if (!quota || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, QUOTA_RETRY_MS));
      }
    }
  }

  private releaseShell(shell: WinRSShell, healthy: boolean): void {
    if (healthy && !this.closed) {
      this.idle.push(shell);
    } else {
      this.shellCount--;
      void shell.delete().catch(() => undefined);
    }
    this.waiting.shift()?.();
  }

  /** Deletes every pooled shell and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    const shells = this.idle.splice(0);
    await Promise.all(shells.map((shell) => shell.delete().catch(() => undefined)));
    await this.transport.close();
  }
}
