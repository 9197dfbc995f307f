/**
 * Drives one command in a WinRS shell to completion: streams stdin in envelope-sized chunks
 * while receiving stdout and stderr as they arrive, enforces the whole-command timeout, and
 * keeps a bounded tail of each stream for the caller.
 */
import { StringDecoder } from "node:string_decoder";
import { ConnectionLostError, ProtocolError, TimeoutError, WSManFault } from "../../errors";
import { abortReason, followSignal, whenAborted } from "../wait-queue";
import { CONTENDED_RECEIVE_SECONDS, type ReceiveResult, type WinRSShell } from "./shell";

/** Bytes of a command's stdin or output: a buffer, or a stream of chunks of any size. */
export type ByteSource = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * Takes a chunk of output. A promise (any thenable) returned means "no more until it
 * settles"; any other value is ignored, so `(chunk) => process.stdout.write(chunk)` stays valid.
 */
export type OutputCallback = (chunk: Buffer) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

export interface CommandOptions {
  stdin?: ByteSource;
  /**
   * Called with each stdout chunk as it arrives, in order. A promise returned holds the next
   * output back until it settles (backpressure for a slow consumer): meanwhile at most one
   * more Receive goes out, so the client holds at most two responses' output. A rejection
   * stops the command, as the signal does, and the call rejects with it.
   */
  onStdout?: OutputCallback;
  onStderr?: OutputCallback;
  /**
   * Called with stdout decoded as UTF-8 (codepage 65001) as it arrives; a character split
   * across two responses is held back until it is whole.
   */
  onStdoutText?: (text: string) => void;
  onStderrText?: (text: string) => void;
  /** Whole-command limit; on expiry the command is terminated. Undefined: no limit. */
  timeoutMs?: number;
  /**
   * Stops the command: it is terminated (after its stdin is closed, as on a timeout) and the
   * call rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Bytes of each stream kept for the result (the tail); the callbacks see everything. */
  maxOutputBytes?: number;
  /** Run the command line directly rather than through cmd.exe (WINRS_SKIP_CMD_SHELL). */
  skipCmdShell?: boolean;
  /**
   * The command reads all of its stdin before it writes anything (the PowerShell runScript
   * bootstrap, an upload script): stdin is sent first and output received after, so its Sends
   * never wait for a Receive and the command needs no connection of its own.
   */
  inputBeforeOutput?: boolean;
  /**
   * Called after each Send of stdin the host has accepted, with the bytes it carried: what
   * has really gone, where the source's reads run ahead of the sending.
   */
  onStdinSent?: (bytes: number) => void;
}

/** CommandOptions and the shell a command needs. */
export interface RunOptions extends CommandOptions {
  /** Environment and working directory get a shell of their own, not a pooled one. */
  environment?: Record<string, string>;
  workingDirectory?: string;
}

export interface CommandResult {
  exitCode: number;
  /** The last `maxOutputBytes` bytes of stdout. */
  stdout: Buffer;
  stderr: Buffer;
  /** Total bytes each stream produced, which may exceed what was kept. */
  stdoutBytes: number;
  stderrBytes: number;
}

const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** OperationTimeout of the first Receive of a command while the connection is contended. */
const FIRST_BRIEF_RECEIVE_SECONDS = 0.1;
/** How long a timed-out command with stdin may take to end after its stdin is closed. */
const STDIN_CLOSE_GRACE_MS = 3000;

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.limit <= 0) return;
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.kept - this.chunks[0]!.length >= this.limit)
      this.kept -= this.chunks.shift()!.length;
  }

  toBuffer(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }
}

/**
 * Hands each chunk to the byte callback and, decoded, to the text callback; returns what the
 * byte callback returned (a promise when its consumer is full).
 */
function deliver(onBytes?: OutputCallback, onText?: (text: string) => void) {
  const decoder = onText ? new StringDecoder("utf8") : undefined;
  return {
    write(chunk: Buffer): PromiseLike<unknown> | undefined {
      const held = onBytes?.(chunk);
      if (decoder) {
        const text = decoder.write(chunk);
        if (text) onText!(text);
      }
      return isThenable(held) ? held : undefined;
    },
    end(): void {
      const rest = decoder?.end();
      if (rest) onText!(rest);
    },
  };
}

/** Cuts a byte source into chunks of at most `size` bytes. */
export async function* rechunk(source: ByteSource, size: number): AsyncGenerator<Buffer> {
  if (source instanceof Uint8Array) {
    for (let offset = 0; offset < source.length; offset += size) {
      yield Buffer.from(
        source.buffer,
        source.byteOffset + offset,
        Math.min(size, source.length - offset),
      );
    }
    return;
  }
  // Whole chunks are handed on as views of the source's buffers, and only pieces that straddle
  // two of them are copied together: a file read 1 MiB at a time into ~380 KB Sends copies one
  // Send's worth per read instead of every byte. A source must therefore not reuse a buffer it
  // has yielded (file streams and generators of fresh buffers do not).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    let chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (pendingBytes + chunk.length >= size) {
      const take = size - pendingBytes;
      if (pendingBytes === 0) {
        yield chunk.subarray(0, take);
      } else {
        pending.push(chunk.subarray(0, take));
        yield Buffer.concat(pending, size);
        pending = [];
        pendingBytes = 0;
      }
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      pending.push(chunk);
      pendingBytes += chunk.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

/** The command's two output streams: a bounded tail of each, and the caller's callbacks. */
class CommandOutput {
  private readonly stdout: TailBuffer;
  private readonly stderr: TailBuffer;
  private readonly deliverStdout: ReturnType<typeof deliver>;
  private readonly deliverStderr: ReturnType<typeof deliver>;

  constructor(options: CommandOptions) {
    const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.stdout = new TailBuffer(limit);
    this.stderr = new TailBuffer(limit);
    this.deliverStdout = deliver(options.onStdout, options.onStdoutText);
    this.deliverStderr = deliver(options.onStderr, options.onStderrText);
  }

  /**
   * Keeps the tails and hands the chunks over, stdout's first, in order; resolves once the
   * callbacks have taken them all (undefined when none held anything back).
   */
  add(result: ReceiveResult): Promise<void> | undefined {
    for (const chunk of result.stdout) this.stdout.push(chunk);
    for (const chunk of result.stderr) this.stderr.push(chunk);
    const stdoutCount = result.stdout.length;
    const total = stdoutCount + result.stderr.length;
    let next = 0;
    // A chunk goes only once the callback has let go of the one before it: usually all go at
    // once, in this call, with no promise made.
    const rest = (): Promise<void> | undefined => {
      while (next < total) {
        const at = next++;
        const held =
          at < stdoutCount
            ? this.deliverStdout.write(result.stdout[at]!)
            : this.deliverStderr.write(result.stderr[at - stdoutCount]!);
        if (held !== undefined) return Promise.resolve(held).then(rest);
      }
      return undefined;
    };
    return rest();
  }

  /** Flushes text held back for a split character: the streams have ended. */
  end(): void {
    this.deliverStdout.end();
    this.deliverStderr.end();
  }

  result(exitCode: number): CommandResult {
    return {
      exitCode,
      stdout: this.stdout.toBuffer(),
      stderr: this.stderr.toBuffer(),
      stdoutBytes: this.stdout.total,
      stderrBytes: this.stderr.total,
    };
  }
}

/**
 * One signal that stops a command, whatever the cause: the caller's signal, the whole-command
 * timeout, or a stdin failure while the command still runs (it would wait for input forever).
 * `dispose` clears the timer and lets go of the caller's signal.
 */
function commandStop(options: CommandOptions): {
  controller: AbortController;
  dispose(): void;
} {
  const { controller, dispose } = followSignal(options.signal);
  const { timeoutMs } = options;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          controller.abort(
            new TimeoutError(
              `the command did not finish within ${timeoutMs} ms and was terminated`,
              timeoutMs,
            ),
          );
        }, timeoutMs);
  return {
    controller,
    dispose() {
      clearTimeout(timer);
      dispose();
    },
  };
}

/**
 * Runs `command` in `shell` and resolves with its exit code and output tails. The stdin pump and
 * the receive loop run concurrently (on separate connections when the pool allows), so a command
 * that writes while it reads cannot deadlock against its own input. The timeout and the
 * caller's signal cover the whole command, from the Command request on.
 */
export async function runInShell(
  shell: WinRSShell,
  command: string,
  args: readonly string[],
  options: CommandOptions,
  stdinChunkBytes: number,
): Promise<CommandResult> {
  if (options.signal?.aborted) throw abortReason(options.signal);
  const stop = commandStop(options);
  // The first chunk of stdin is asked for while the command starts: an input that turns out
  // empty (a CLI's stdin from /dev/null) is then closed before output is received, on the
  // same connection, instead of by a Send racing the first Receive for a second one. Input
  // that goes before output anyway is read from once the command has started.
  const input =
    options.stdin === undefined
      ? undefined
      : new StdinReader(options.stdin, stdinChunkBytes, options.inputBeforeOutput !== true);
  try {
    let commandId: string;
    try {
      commandId = await shell.command(command, args, {
        skipCmdShell: options.skipCmdShell,
        pipeStdin: options.stdin !== undefined,
        signal: stop.controller.signal,
      });
    } catch (error) {
      throw markStartFailure(error, stop.controller.signal.aborted);
    }
    return await driveCommand(shell, commandId, options, input, stop.controller);
  } finally {
    stop.dispose();
    input?.close();
  }
}

/**
 * What the failure of a Command request says about the command (see `commandStart`):
 * "refused": the host answered with a fault, so it did not start the command;
 * "unknown": the request was abandoned (a stop, a timeout) or its connection dropped, so the
 * host may have started it, in the shell, with nobody receiving its output.
 */
export type CommandStart = "refused" | "unknown";

const startFailures = new WeakMap<object, CommandStart>();

function markStartFailure(error: unknown, stopped: boolean): unknown {
  if (typeof error !== "object" || error === null) return error;
  if (error instanceof WSManFault) startFailures.set(error, "refused");
  else if (stopped || error instanceof ConnectionLostError) startFailures.set(error, "unknown");
  return error;
}

/** How a command that failed with `error` failed to start, if that is where it failed. */
export function commandStart(error: unknown): CommandStart | undefined {
  return typeof error === "object" && error !== null ? startFailures.get(error) : undefined;
}

/** Feeds a started command its stdin and receives its output until it ends or is stopped. */
async function driveCommand(
  shell: WinRSShell,
  commandId: string,
  options: CommandOptions,
  input: StdinReader | undefined,
  stop: AbortController,
): Promise<CommandResult> {
  const output = new CommandOutput(options);
  let finished = false;
  const inputFirst =
    input !== undefined && (options.inputBeforeOutput === true || input.knownEmpty);
  const pump = input
    ? pumpStdin(
        shell,
        commandId,
        input,
        () => finished || stop.signal.aborted,
        stop.signal,
        !inputFirst,
        options.onStdinSent,
      )
    : Promise.resolve();
  if (!inputFirst) {
    // After the command ended a failed send only means it stopped reading.
    pump.catch((error: unknown) => {
      if (!finished) stop.abort(error);
    });
  }
  const receiveAll = () => receiveOutput(shell, commandId, output);
  const closeInput = () =>
    shell.send(commandId, Buffer.alloc(0), { end: true }).then(() => undefined);
  const receiving = inputFirst ? receiveAfterInput(pump, receiveAll, closeInput) : receiveAll();
  let receivingEnded = false;
  receiving.then(
    () => (receivingEnded = true),
    () => (receivingEnded = true), // observed below, or abandoned after a stop
  );
  try {
    const exitCode = await Promise.race([receiving, whenAborted(stop.signal)]);
    finished = true;
    return output.result(exitCode);
  } catch (error) {
    finished = true;
    // The receive loop may have ended already (it failed): then whether the command ends
    // once its input is closed is watched by Receives of its own.
    const ended = () => (receivingEnded ? receiveUntilDone(shell, commandId) : receiving);
    await endStoppedCommand(shell, commandId, options.stdin !== undefined, ended);
    throw error;
  }
}

/** Receives and discards a stopped command's output until it is done; gives up on an error. */
async function receiveUntilDone(shell: WinRSShell, commandId: string): Promise<void> {
  for (;;) {
    const result = await shell.receive(commandId, CONTENDED_RECEIVE_SECONDS);
    if (result.done) return;
  }
}

/**
 * Receives until the command is done; resolves with its exit code. Under contention a Receive
 * waits FIRST_BRIEF_RECEIVE_SECONDS, twice that after each one that brought nothing, and again
 * the first after output arrives (see WinRSShell.receive).
 */
async function receiveOutput(
  shell: WinRSShell,
  commandId: string,
  output: CommandOutput,
): Promise<number> {
  let brief = FIRST_BRIEF_RECEIVE_SECONDS;
  // The output of the Receive before, still being taken by a slow consumer: the next Receive
  // goes out meanwhile, but its output waits for this one.
  let handingOver: Promise<void> | undefined;
  // Whether that output is still held: a Receive is sent ahead only while nothing is, so that
  // a slow consumer still has at most one Receive out while it holds output.
  let holding = false;
  const ahead = () => !holding;
  // The next Receive's result, when it was sent ahead of its turn.
  let sentAhead: Promise<ReceiveResult> | undefined;
  for (;;) {
    const result = await (sentAhead ?? shell.receive(commandId, brief, ahead));
    sentAhead = result.next;
    if (handingOver !== undefined) await handingOver;
    const quiet = result.stdout.length === 0 && result.stderr.length === 0;
    brief = quiet ? Math.min(brief * 2, CONTENDED_RECEIVE_SECONDS) : FIRST_BRIEF_RECEIVE_SECONDS;
    handingOver = output.add(result);
    holding = handingOver !== undefined;
    // Observed by the await above or below; a rejection must not go unhandled meanwhile.
    handingOver?.then(
      () => (holding = false),
      () => undefined,
    );
    if (!result.done) continue;
    if (handingOver !== undefined) await handingOver;
    output.end();
    // Done without an ExitCode (some non-Windows WS-Management servers): the command ended,
    // but how is unknown, and success must not be claimed for it.
    if (result.exitCode === undefined) {
      throw new ProtocolError(
        "CommandState",
        "the host reported the command done without an exit code, so whether it succeeded is unknown",
      );
    }
    return result.exitCode;
  }
}

/**
 * Ends a command that was stopped. With stdin, its input is closed first and it gets a moment
 * to end by itself: a terminated process cannot clean up (an upload script removes its
 * temporary file on end of input). Then it is terminated (MS-WSMV 3.1.4.13).
 */
async function endStoppedCommand(
  shell: WinRSShell,
  commandId: string,
  hasStdin: boolean,
  ended: () => Promise<unknown>,
): Promise<void> {
  if (hasStdin) {
    await shell.send(commandId, Buffer.alloc(0), { end: true }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      ended(),
      new Promise((resolve) => (timer = setTimeout(resolve, STDIN_CLOSE_GRACE_MS))),
    ]).catch(() => undefined);
    clearTimeout(timer);
  }
  await shell.signal(commandId, "terminate").catch(() => undefined);
}

/**
 * Receives once all input is sent, for a command that reads its input before it writes. When
 * sending failed the command may have ended early (an upload that cannot write stops reading):
 * its output and exit code tell why if it ends within the grace period; if not, the send
 * error stands. Its input is closed first: a command still reading (the Send's connection
 * dropped) then sees the end of its input and ends by itself, as an upload script does after
 * removing its temporary file, instead of waiting for input that will not come.
 */
async function receiveAfterInput(
  pump: Promise<void>,
  receiveLoop: () => Promise<number>,
  closeInput: () => Promise<void>,
): Promise<number> {
  try {
    await pump;
  } catch (error) {
    await closeInput().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(error as Error), STDIN_CLOSE_GRACE_MS);
    });
    const receiving = receiveLoop();
    receiving.catch(() => undefined); // abandoned when the grace period ends first
    let exitCode: number;
    try {
      exitCode = await Promise.race([receiving, grace]);
    } finally {
      clearTimeout(timer);
    }
    // Input cut off by the network: a command that then failed failed for want of the rest of
    // its input (an upload's hash no longer matches), which the send error says better. One
    // that succeeded had all it needed (the lost Send was its last, and the host took it).
    if (exitCode !== 0 && error instanceof ConnectionLostError) throw error;
    return exitCode;
  }
  return receiveLoop();
}

/**
 * Sends `source` as the command's stdin. `mayBlock`: the host may hold a Send until the command
 * reads, which may wait for a Receive of its output (see RequestOptions.mayBlockOnHost).
 */
async function pumpStdin(
  shell: WinRSShell,
  commandId: string,
  input: StdinReader,
  stopped: () => boolean,
  signal: AbortSignal,
  mayBlock: boolean,
  onSent: (bytes: number) => void = () => undefined,
): Promise<void> {
  let current = await input.next();
  if (current.done) {
    if (stopped()) return;
    // No input at all: an empty Send with End="true" closes the command's stdin.
    await shell.send(commandId, Buffer.alloc(0), { end: true, mayBlock, signal });
    return;
  }
  // Input that needs no Receive to go on travels in a lane: the next chunk is read, and its
  // Send built and sealed, while the Send before it is on the wire, so the client's work
  // overlaps the host's (issue 15). Input the host may hold until output is received goes one
  // Send at a time on any connection: a held Send would hold a reserved connection with it.
  const lane = mayBlock ? undefined : shell.lane();
  let inFlight: Promise<void> | undefined;
  try {
    // The next chunk must be known before the current one goes, because the last Send
    // carries End="true".
    for (;;) {
      const following = await input.next();
      if (stopped()) return;
      const chunk = current.value;
      const end = following.done === true;
      const sending = shell
        .send(commandId, chunk, { end, mayBlock, signal, lane })
        .then(() => onSent(chunk.length));
      if (lane === undefined) {
        await sending;
      } else {
        sending.catch(() => undefined); // observed below, after the one before it
        // At most one Send waits, sealed, behind the one on the wire.
        if (inFlight !== undefined) await inFlight;
        inFlight = sending;
      }
      if (end) break;
      current = following;
    }
    await inFlight;
  } finally {
    lane?.close();
  }
}

/**
 * A command's stdin cut into Send-sized chunks. With `readNow` the first chunk is asked for at
 * once (while the command starts), to tell an empty input in time; every later one when it
 * is wanted. A read that fails is reported when its chunk is wanted.
 */
class StdinReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private first: Promise<IteratorResult<Buffer>> | undefined;
  private firstDone = false;

  constructor(source: ByteSource, chunkBytes: number, readNow: boolean) {
    this.chunks = rechunk(source, chunkBytes)[Symbol.asyncIterator]();
    if (!readNow) return;
    this.first = this.ask();
    this.first.then(
      (result) => (this.firstDone = result.done === true),
      () => undefined,
    );
  }

  /** The input has ended without a byte, as far as can be told without waiting. */
  get knownEmpty(): boolean {
    return this.firstDone;
  }

  next(): Promise<IteratorResult<Buffer>> {
    const first = this.first;
    this.first = undefined;
    return first ?? this.ask();
  }

  /** Lets go of the source; not awaited, because a read still pending may never end. */
  close(): void {
    this.chunks.return?.(undefined).catch(() => undefined);
  }

  private ask(): Promise<IteratorResult<Buffer>> {
    const pending = this.chunks.next();
    pending.catch(() => undefined); // observed when awaited, unless a stop comes first
    return pending;
  }
}
