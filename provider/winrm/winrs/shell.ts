/**
 * The WinRS remote shell (MS-WSMV 3.1.4.5 to 3.1.4.14): create a shell, start commands in it,
 * feed their stdin, receive their output streams, signal and delete. One request per method;
 * the loops that drive a command to completion live in command.ts.
 */
import { randomUUID } from "node:crypto";
import { ConnectionLostError, HostUnreachableError, ProtocolError, WSManFault } from "../../errors";
import {
  Action,
  attribute,
  child,
  children,
  escapeXml,
  find,
  operationIdHeader,
  PAYLOAD_PLACE,
  type InvokeFollowUp,
  type InvokeOptions,
  type Reply,
  type RequestLane,
  streamBytes,
  text,
  WSManFaultCode,
  type WSManSession,
  type XmlNode,
} from "../wsman";

export interface ShellOptions {
  environment?: Record<string, string>;
  workingDirectory?: string;
  /** 65001 (UTF-8) unless told otherwise. */
  codepage?: number;
  noProfile?: boolean;
}

export type Signal = "terminate" | "ctrl_c";

const SIGNAL_CODES: Record<Signal, string> = {
  terminate: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate",
  ctrl_c: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c",
};

const DONE_STATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";

export interface ReceiveResult {
  stdout: Buffer[];
  stderr: Buffer[];
  done: boolean;
  exitCode: number | undefined;
  /** The next Receive's result, when it was sent ahead (see WinRSShell.receive). */
  next?: Promise<ReceiveResult>;
}

/**
 * Longest OperationTimeout of a Receive while other requests want the connection: a Receive
 * holds its connection until output arrives or the timeout passes, so under contention it
 * waits only briefly (the caller asks for less still, see `receive`).
 */
export const CONTENDED_RECEIVE_SECONDS = 1;

/** The OperationTimeout of a Receive on a contended connection, in seconds. */
function briefTimeout(briefSeconds: number, wholeSeconds: boolean): number {
  const brief = Math.min(briefSeconds, CONTENDED_RECEIVE_SECONDS);
  return wholeSeconds ? Math.max(1, Math.ceil(brief)) : brief;
}

export class WinRSShell {
  private constructor(
    private readonly session: WSManSession,
    readonly id: string,
  ) {}

  /**
   * Creates a shell (MS-WSMV 3.1.4.5, WS-Transfer Create of rsp:Shell). `signal` ends the
   * request's waits (for a connection, for a host not up yet); the shell is not created then.
   */
  static async create(
    session: WSManSession,
    options: ShellOptions = {},
    signal?: AbortSignal,
  ): Promise<WinRSShell> {
    const environment = Object.entries(options.environment ?? {});
    // The client names the shell (an uppercase GUID, as WSManCreateShellEx's shellId and
    // MS-PSRP 3.1.5.3.1 clients do), so that a shell whose Create reply was lost can still
    // be deleted by that name (see lostShellOf).
    const chosenId = randomUUID().toUpperCase();
    const body =
      `<rsp:Shell ShellId="${chosenId}">` +
      (environment.length > 0
        ? `<rsp:Environment>${environment
            .map(
              ([name, value]) =>
                `<rsp:Variable Name="${escapeXml(name)}">${escapeXml(value)}</rsp:Variable>`,
            )
            .join("")}</rsp:Environment>`
        : "") +
      (options.workingDirectory
        ? `<rsp:WorkingDirectory>${escapeXml(options.workingDirectory)}</rsp:WorkingDirectory>`
        : "") +
      `<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>` +
      `</rsp:Shell>`;
    let reply: XmlNode;
    try {
      ({ body: reply } = await session.invoke(Action.CREATE, body, {
        options: {
          WINRS_NOPROFILE: options.noProfile === false ? "FALSE" : "TRUE",
          WINRS_CODEPAGE: String(options.codepage ?? 65001),
        },
        idempotent: false,
        signal,
      }));
    } catch (error) {
      // The host may have created the shell and its reply been lost.
      if (error instanceof ConnectionLostError) {
        lostShells.set(error, new WinRSShell(session, chosenId));
      }
      throw error;
    }
    // Windows answers with a ResourceCreated reference holding a ShellId selector, and newer
    // versions also echo rsp:Shell with rsp:ShellId (MS-WSMV 3.1.4.5.2).
    const selector = findSelector(reply, "ShellId");
    const id = selector ?? text(find(reply, "ShellId")).trim();
    if (!id) throw new ProtocolError("CreateResponse", "no ShellId in the response");
    return new WinRSShell(session, id);
  }

  /**
   * Starts a command (MS-WSMV 3.1.4.11); returns its CommandId. `pipeStdin`: the caller will
   * send stdin, so the command gets a pipe rather than a console input buffer
   * (WINRS_CONSOLEMODE_STDIN=FALSE, as Ansible asks when it feeds a script over stdin); raw
   * reads of stdin such as [Console]::OpenStandardInput() then see the bytes as sent.
   */
  async command(
    command: string,
    args: readonly string[] = [],
    options: { skipCmdShell?: boolean; pipeStdin?: boolean; signal?: AbortSignal } = {},
  ): Promise<string> {
    const body =
      `<rsp:CommandLine><rsp:Command>${escapeXml(command)}</rsp:Command>` +
      args.map((arg) => `<rsp:Arguments>${escapeXml(arg)}</rsp:Arguments>`).join("") +
      `</rsp:CommandLine>`;
    const { body: reply } = await this.session.invoke(Action.COMMAND, body, {
      selectors: { ShellId: this.id },
      options: {
        WINRS_CONSOLEMODE_STDIN: options.pipeStdin ? "FALSE" : "TRUE",
        WINRS_SKIP_CMD_SHELL: options.skipCmdShell ? "TRUE" : "FALSE",
      },
      idempotent: false,
      signal: options.signal,
      // The command's timeout and stop cover this request too: the caller then deletes the
      // shell, which ends the command if the host started it.
      abandonOnSignal: true,
    });
    const id = text(find(reply, "CommandId")).trim();
    if (!id) throw new ProtocolError("CommandResponse", "no CommandId in the response");
    return id;
  }

  /**
   * Sends stdin (MS-WSMV 3.1.4.12); `end` closes the command's stdin. `mayBlock` (default
   * true): the command may stop reading until its output is received, so the host may hold
   * this request. `signal` ends its wait for a connection.
   */
  async send(
    commandId: string,
    data: Uint8Array,
    {
      end,
      mayBlock = true,
      signal,
      lane,
    }: { end: boolean; mayBlock?: boolean; signal?: AbortSignal; lane?: RequestLane },
  ): Promise<void> {
    const body =
      `<rsp:Send><rsp:Stream Name="stdin" CommandId="${escapeXml(commandId)}"${end ? ' End="true"' : ""}>` +
      PAYLOAD_PLACE +
      `</rsp:Stream></rsp:Send>`;
    await this.session.invoke(Action.SEND, body, {
      payload: data,
      selectors: { ShellId: this.id },
      idempotent: false,
      mayBlockOnHost: mayBlock,
      signal,
      lane,
    });
  }

  /**
   * A lane for a command's Sends when they need no Receive to go on (see WSManSession.lane):
   * each is built and sealed while the one before is on the wire.
   */
  lane(): RequestLane | undefined {
    return this.session.lane();
  }

  /**
   * Receives whatever output is ready (MS-WSMV 3.1.4.14). An OperationTimeout fault means no
   * output arrived within OperationTimeout: not an error, the caller receives again.
   *
   * `briefSeconds` is the OperationTimeout to use when the connection is contended (at most
   * CONTENDED_RECEIVE_SECONDS): a caller polling a quiet command asks for a little more each
   * time, so that a finished command is seen soon and a quiet one does not hold the connection.
   *
   * `ahead`: when a reply brings a large output of a command still running and `ahead()` says
   * the caller can take more, the next Receive is sent as soon as the reply is decrypted, on
   * the same connection, while this one is checked, parsed and handed over (issue 15: the host
   * and the client otherwise take turns); its result comes as `next`, and the caller must take
   * it before receiving again.
   */
  receive(
    commandId: string,
    briefSeconds: number = CONTENDED_RECEIVE_SECONDS,
    ahead?: () => boolean,
  ): Promise<ReceiveResult> {
    return this.receiveOnce(commandId, briefSeconds, ahead, undefined);
  }

  private async receiveOnce(
    commandId: string,
    briefSeconds: number,
    ahead: (() => boolean) | undefined,
    sent: SentReceive | undefined,
  ): Promise<ReceiveResult> {
    const body = receiveBody(commandId);
    // A Receive consumes output: repeating one whose response was lost would lose that output.
    // It is repeated only where the host caches responses by OperationID (MS-WSMV 3.1.4.1.39).
    const operationId = sent?.operationId ?? newOperationId();
    const traits = this.session.traits;
    let reply: Reply;
    let retransmission = false;
    let wholeSeconds = sent?.wholeSeconds ?? traits.wholeSecondTimeouts;
    // Where the Receive sent behind this one, if any, is recorded (see aheadOf).
    let behind: AheadHolder = sent?.behind ?? {};
    for (;;) {
      const timeoutSeconds =
        sent?.timeoutSeconds ?? this.receiveTimeout(briefSeconds, wholeSeconds);
      try {
        if (sent !== undefined) {
          reply = await sent.reply;
        } else {
          const options = this.receiveOptions(operationId, retransmission, timeoutSeconds);
          behind = {};
          if (ahead !== undefined) {
            options.followUp = this.aheadOf(commandId, ahead, wholeSeconds, behind);
          }
          reply = await this.session.invoke(Action.RECEIVE, body, options);
        }
        break;
      } catch (error) {
        // A Receive sent ahead failed as one sent now would; the same answers apply, and
        // asking again is asking afresh.
        sent = undefined;
        if (error instanceof WSManFault && error.wsmanCode === WSManFaultCode.OPERATION_TIMEOUT) {
          if (wholeSeconds) traits.wholeSecondTimeouts = true;
          return { stdout: [], stderr: [], done: false, exitCode: undefined };
        }
        // A fault answers a request the host did not carry out, so nothing was consumed and the
        // Receive may be asked again, once, with a whole-second OperationTimeout.
        if (error instanceof WSManFault && !Number.isInteger(timeoutSeconds) && !wholeSeconds) {
          wholeSeconds = true;
          continue;
        }
        if (error instanceof ConnectionLostError && !retransmission && traits.robust) {
          retransmission = true;
          continue;
        }
        throw receiveFailure(error, retransmission);
      }
    }
    if (wholeSeconds) traits.wholeSecondTimeouts = true;
    if (child(reply.header, "OperationID")) traits.robust = true;
    const result = receiveResult(reply, commandId);
    const following = behind.sent;
    if (reply.next !== undefined && following !== undefined) {
      const next = this.receiveOnce(commandId, briefSeconds, ahead, {
        ...following,
        reply: reply.next,
      });
      // Its caller may drop it (a command stopped): a failure must not go unhandled then.
      next.catch(() => undefined);
      result.next = next;
    }
    return result;
  }

  /**
   * The followUp of a Receive that may have the next one sent behind it (see receive): the
   * next is asked for when the caller can take more, nobody else waits for a connection, and
   * the reply shows a large output of a command still running. It records the next in
   * `behind`, and may have one sent behind it in turn.
   */
  private aheadOf(
    commandId: string,
    ahead: () => boolean,
    wholeSeconds: boolean,
    behind: AheadHolder,
  ): (plaintext: Buffer) => InvokeFollowUp | undefined {
    return (plaintext) => {
      if (!ahead() || this.session.contended() || !runningWithOutput(plaintext)) return undefined;
      // Nobody waits for a connection (just checked): the session's whole OperationTimeout.
      const next: Omit<SentReceive, "reply"> = {
        operationId: newOperationId(),
        wholeSeconds,
        timeoutSeconds: this.session.settings.operationTimeoutSeconds,
        behind: {},
      };
      behind.sent = next;
      const options = this.receiveOptions(next.operationId, false, next.timeoutSeconds);
      options.followUp = this.aheadOf(commandId, ahead, wholeSeconds, next.behind);
      return { action: Action.RECEIVE, body: receiveBody(commandId), options };
    };
  }

  /** A Receive's OperationTimeout: brief while others want the connection (see receive). */
  private receiveTimeout(briefSeconds: number, wholeSeconds: boolean): number {
    return this.session.contended()
      ? briefTimeout(briefSeconds, wholeSeconds)
      : this.session.settings.operationTimeoutSeconds;
  }

  private receiveOptions(
    operationId: string,
    retransmission: boolean,
    timeoutSeconds: number,
  ): InvokeOptions {
    return {
      selectors: { ShellId: this.id },
      options: { WSMAN_CMDSHELL_OPTION_KEEPALIVE: "TRUE" },
      idempotent: false,
      waitsForOutput: true,
      extraHeaders: operationIdHeader(operationId, retransmission),
      operationTimeoutSeconds: timeoutSeconds,
      // No MaxEnvelopeSize of its own, the session's: output arrives as base64 text in the
      // envelope, and every round trip costs (issue 15: 120 KiB envelopes made 200 MB of output
      // 2,195 Receives). The heap stays flat because large Stream texts are decoded from the
      // reply's bytes in slices, never held as one large string (wsman/payloads.ts).
    };
  }

  /** Signals a command (MS-WSMV 3.1.4.13): terminate, or Ctrl+C. */
  async signal(commandId: string, signal: Signal): Promise<void> {
    const body = `<rsp:Signal CommandId="${escapeXml(commandId)}"><rsp:Code>${SIGNAL_CODES[signal]}</rsp:Code></rsp:Signal>`;
    await this.session.invoke(Action.SIGNAL, body, {
      selectors: { ShellId: this.id },
      idempotent: true,
    });
  }

  /** Deletes the shell (MS-WSMV 3.1.4.6, WS-Transfer Delete), ending its processes. */
  async delete(): Promise<void> {
    await this.session.invoke(Action.DELETE, "", {
      selectors: { ShellId: this.id },
      idempotent: true,
    });
  }
}

/** A Receive sent ahead of its turn (see WinRSShell.receive): how it was asked, and its reply. */
interface SentReceive {
  operationId: string;
  wholeSeconds: boolean;
  timeoutSeconds: number;
  reply: Promise<Reply>;
  /** The Receive sent behind this one in turn, once asked for. */
  behind: AheadHolder;
}

/** Where a Receive records the one sent behind it (WinRSShell.aheadOf). */
interface AheadHolder {
  sent?: Omit<SentReceive, "reply">;
}

function newOperationId(): string {
  return `uuid:${randomUUID().toUpperCase()}`;
}

function receiveBody(commandId: string): string {
  return `<rsp:Receive><rsp:DesiredStream CommandId="${escapeXml(commandId)}">stdout stderr</rsp:DesiredStream></rsp:Receive>`;
}

/** Replies smaller than this are not worth receiving ahead of: the output comes in trickles. */
const AHEAD_FROM_BYTES = 64 * 1024;
/** How far from a reply's end its CommandState is looked for: past the envelope's closing tags. */
const STATE_TAIL_BYTES = 2048;
const RUNNING = Buffer.from("CommandState/Running", "latin1");
const DONE = Buffer.from("CommandState/Done", "latin1");

/**
 * Whether a Receive reply's plaintext, not yet checked, shows a command that is still running
 * and brought much output, so that more is likely ready at once. Only ever a reason to ask
 * for more: a forged reply could cause one Receive more, before its check fails it. The
 * CommandState elements close a ReceiveResponse, after its Streams (MS-WSMV 2.2.4.31), and
 * only its last bytes are searched: the output is base64, which holds neither marker, and a
 * Done among them means no more is asked for.
 */
function runningWithOutput(plaintext: Buffer): boolean {
  if (plaintext.length < AHEAD_FROM_BYTES) return false;
  const tail = plaintext.subarray(plaintext.length - STATE_TAIL_BYTES);
  return tail.includes(RUNNING) && !tail.includes(DONE);
}

/** What a ReceiveResponse holds for `commandId`: its output and whether it is done. */
function receiveResult(reply: Reply, commandId: string): ReceiveResult {
  const response = find(reply.body, "ReceiveResponse");
  const result: ReceiveResult = { stdout: [], stderr: [], done: false, exitCode: undefined };
  for (const stream of children(response, "Stream")) {
    if (
      attribute(stream, "CommandId") !== undefined &&
      attribute(stream, "CommandId") !== commandId
    )
      continue;
    const data = streamBytes(text(stream), reply.payloads);
    if (data.length === 0) continue;
    const name = attribute(stream, "Name");
    if (name === "stdout") result.stdout.push(data);
    else if (name === "stderr") result.stderr.push(data);
  }
  // A response may carry several CommandState elements (a Running one, then Done), and on a
  // shell with several commands, states of others: the one that counts is this command's Done.
  const states = children(response, "CommandState").filter((state) => {
    const id = attribute(state, "CommandId");
    return id === undefined || id.toUpperCase() === commandId.toUpperCase();
  });
  const done = states.find((state) => attribute(state, "State") === DONE_STATE);
  if (done) {
    result.done = true;
    const exitCode = text(child(done, "ExitCode")).trim();
    result.exitCode = /^-?\d+$/.test(exitCode) ? Number(exitCode) : undefined;
  }
  return result;
}

/** Shells whose Create reply was lost, by the error that reported it. */
const lostShells = new WeakMap<object, WinRSShell>();

/**
 * The shell a failed Create may have made on the host (its reply was lost), under the name the
 * client gave it: delete it, or it counts against the user's MaxShellsPerUser until it idles
 * out (up to two hours on Windows).
 */
export function lostShellOf(error: unknown): WinRSShell | undefined {
  return typeof error === "object" && error !== null ? lostShells.get(error) : undefined;
}

/**
 * Whether a fault says the shell itself no longer exists (the WinRM service restarted, the
 * host rebooted, or the shell idled out). InvalidSelectors (2150858843) answers a bad
 * CommandId as well; only the text tells them apart, and Windows words a missing shell "The
 * request for the Windows Remote Shell with ShellId ... failed because the shell was not found
 * on the server".
 */
export function isShellGone(error: unknown): boolean {
  return (
    error instanceof WSManFault &&
    /InvalidSelectors/i.test(error.subcode ?? "") &&
    /ShellId|shell was not found|shell no longer exists/i.test(error.reason)
  );
}

/**
 * What a Receive that could not be completed says: the output since the last Receive is
 * lost and the command may still be running, and why. `retransmitted`: the connection had
 * dropped and the Receive was being asked again by its OperationID.
 */
function receiveFailure(error: unknown, retransmitted: boolean): unknown {
  const consequence = "output may be missing, and the command may still be running";
  if (error instanceof HostUnreachableError) {
    return error.during(
      `${retransmitted ? "the connection dropped while receiving the command's output and " : "while receiving the command's output, "}` +
        `the host stopped answering (${consequence})`,
    );
  }
  if (!retransmitted) {
    if (!(error instanceof ConnectionLostError)) return error;
    return new ConnectionLostError(
      "the connection dropped while receiving the command's output, and this host does not " +
        `replay lost responses (MS-WSMV 3.1.4.1.39, robust connections): ${consequence}`,
      { cause: error },
    );
  }
  const dropped = "the connection dropped while receiving the command's output";
  if (isShellGone(error)) {
    return new ConnectionLostError(
      `${dropped}, and when it answered again the host no longer had the command's shell ` +
        "(its WinRM service restarted or it rebooted): the command was ended with its shell, " +
        "and whether it finished its work is unknown",
      { cause: error },
    );
  }
  if (error instanceof ConnectionLostError) {
    return new ConnectionLostError(
      `${dropped}, and again when it was asked for once more: ${consequence}`,
      { cause: error },
    );
  }
  return error;
}

function findSelector(node: XmlNode, name: string): string | undefined {
  const set = find(node, "SelectorSet");
  const selector = children(set, "Selector").find((item) => attribute(item, "Name") === name);
  return selector ? text(selector).trim() : undefined;
}
