// The Node side of the framed protocol that the Python peers (gssapi_peer.py, pyspnego_peer.py,
// both reading and writing through peer_framing.py) speak on stdin/stdout:
//   u32be H | H bytes of UTF-8 JSON header | u32be B | B bytes of binary body
// one reply per request, in order. FramedPeer owns the child process: it queues requests, sends
// one at a time, times each out, and turns a dead or confused child into rejected requests; a
// subclass adds the operations of its peer and names the error an {ok:false} reply becomes.

import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";

const STDERR_TAIL_BYTES = 8192;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const CLOSE_GRACE_MS = 5_000;

export interface FramedReply {
  header: Record<string, unknown>;
  body: Buffer;
}

export interface FramedPeerSpec {
  /** The interpreter, then its arguments: the peer script and any flags. */
  command: readonly [python: string, ...args: string[]];
  /** How messages name the peer: "gssapi peer", "pyspnego peer". */
  label: string;
  cwd: string;
  /** The error an {ok:false} reply to `op` rejects with. */
  replyError: (op: string, header: Record<string, unknown>) => Error;
  /** The child's environment on top of this process's. */
  env?: NodeJS.ProcessEnv;
  /** Reject (and kill the peer) when one request takes longer. Default 60 s. */
  requestTimeoutMs?: number;
}

interface PendingRequest {
  op: string;
  frame: Buffer;
  resolve: (reply: FramedReply) => void;
  reject: (error: Error) => void;
}

/** One Python peer process, one request in flight at a time. Always close() it. */
export abstract class FramedPeer {
  private readonly label: string;
  private readonly replyError: FramedPeerSpec["replyError"];
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly requestTimeoutMs: number;
  private readonly queue: PendingRequest[] = [];
  private inFlight: PendingRequest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private received: Buffer = Buffer.alloc(0);
  private stderrTail: Buffer = Buffer.alloc(0);
  /** Set once the child can take no more requests; later requests reject with it. */
  private failure: Error | undefined;
  private readonly exited: Promise<void>;
  private markExited: () => void = () => {};

  protected constructor(spec: FramedPeerSpec) {
    this.label = spec.label;
    this.replyError = spec.replyError;
    this.requestTimeoutMs = spec.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const [python, ...args] = spec.command;
    this.child = spawn(python, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
    this.child.once("close", (code, signal) => {
      const how = signal !== null ? `signal ${signal}` : `status ${String(code)}`;
      this.fail(`${this.label} exited with ${how}`);
      this.markExited();
    });
    this.child.once("error", (error) => {
      this.fail(`${this.label} process error: ${error.message}`);
      // A child that never started emits no "close": nothing else would settle `exited`.
      if (this.child.pid === undefined) this.markExited();
    });
    this.child.stdout.on("data", (chunk: Buffer) => this.onData(chunk));
    this.child.stderr.on("data", (chunk: Buffer) => {
      const joined = Buffer.concat([this.stderrTail, chunk]);
      this.stderrTail = joined.subarray(Math.max(0, joined.length - STDERR_TAIL_BYTES));
    });
    // A peer that died mid-write must surface as a failed request, not an unhandled EPIPE.
    this.child.stdin.on("error", (error) => {
      this.fail(`${this.label} stdin: ${error.message}`);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last bytes the child wrote to stderr (warnings, tracebacks, KRB5_TRACE output). */
  stderr(): string {
    return this.stderrTail.toString("utf8");
  }

  /** Low-level: one request frame, one reply frame. Rejects with the peer's own error on {ok:false}. */
  request(header: Record<string, unknown>, body?: Uint8Array): Promise<FramedReply> {
    const op = typeof header.op === "string" ? header.op : "request";
    return new Promise<FramedReply>((resolve, reject) => {
      if (this.failure !== undefined) {
        reject(this.failure);
        return;
      }
      this.queue.push({ op, frame: encodeFrame(header, body), resolve, reject });
      this.pump();
    });
  }

  /** Ends stdin (the peer exits at EOF) and waits for the process; kills it after a grace period. */
  async close(): Promise<void> {
    if (this.failure === undefined) {
      this.failure = new Error(`${this.label} was closed`);
      this.rejectAll(this.failure);
    }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (!this.child.stdin.destroyed) this.child.stdin.end();
      const grace = setTimeout(() => this.child.kill("SIGKILL"), CLOSE_GRACE_MS);
      try {
        await this.exited;
      } finally {
        clearTimeout(grace);
      }
    }
  }

  private pump(): void {
    if (this.inFlight !== undefined || this.failure !== undefined) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.inFlight = next;
    this.timer = setTimeout(() => {
      this.fail(`${this.label} did not answer ${next.op} within ${this.requestTimeoutMs} ms`);
      this.child.kill("SIGKILL");
    }, this.requestTimeoutMs);
    this.child.stdin.write(next.frame);
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    for (;;) {
      const frame = decodeFrame(this.received);
      if (frame === undefined) return;
      this.received = this.received.subarray(frame.consumed);
      this.onReply(frame.header, frame.body);
      if (this.failure !== undefined) return;
    }
  }

  private onReply(rawHeader: Buffer, body: Buffer): void {
    const request = this.inFlight;
    if (request === undefined) {
      this.fail(`${this.label} sent a reply with no request in flight`);
      this.child.kill("SIGKILL");
      return;
    }
    this.inFlight = undefined;
    clearTimeout(this.timer);

    let header: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(rawHeader.toString("utf8"));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new Error("reply header is not a JSON object");
      }
      header = parsed as Record<string, unknown>;
    } catch (error) {
      request.reject(new Error(`${this.label} ${request.op}: bad reply header: ${String(error)}`));
      this.fail(`${this.label} sent an unreadable reply`);
      this.child.kill("SIGKILL");
      return;
    }

    if (header.ok === true) {
      request.resolve({ header, body });
    } else {
      request.reject(this.replyError(request.op, header));
    }
    this.pump();
  }

  /** The child can serve no more: reject everything waiting, with the stderr tail. */
  private fail(reason: string): void {
    if (this.failure === undefined) {
      const tail = this.stderr().trim();
      this.failure = new Error(tail === "" ? reason : `${reason}; stderr:\n${tail}`);
    }
    this.rejectAll(this.failure);
  }

  private rejectAll(error: Error): void {
    clearTimeout(this.timer);
    const waiting = this.inFlight === undefined ? this.queue : [this.inFlight, ...this.queue];
    this.inFlight = undefined;
    this.queue.length = 0;
    for (const request of waiting) request.reject(error);
  }
}

export interface PythonFailure {
  /** The Python exception's class name, e.g. "BadMICError". */
  pythonError: string;
  message: string;
}

/** What an {ok:false} reply header says went wrong. */
export function pythonFailure(header: Record<string, unknown>): PythonFailure {
  return {
    pythonError: typeof header.error === "string" ? header.error : "UnknownError",
    message: typeof header.message === "string" ? header.message : JSON.stringify(header),
  };
}

/**
 * The init request both peers take: the caller's options as they are, but the channel bindings'
 * application data, bytes here, in base64.
 */
export function initRequest(options: { channelBindings?: Uint8Array }): Record<string, unknown> {
  const { channelBindings, ...rest } = options;
  const header: Record<string, unknown> = { op: "init", ...rest };
  if (channelBindings !== undefined) {
    header.channelBindings = Buffer.from(channelBindings).toString("base64");
  }
  return header;
}

export interface ReplyFields {
  boolean(header: Record<string, unknown>, key: string): boolean;
  integer(header: Record<string, unknown>, key: string): number;
  string(header: Record<string, unknown>, key: string): string;
}

/** Typed fields of reply headers; a missing or mistyped one is a bug in the peer script. */
export function replyFields(label: string): ReplyFields {
  return {
    boolean(header, key) {
      const value = header[key];
      if (typeof value !== "boolean") throw new Error(`${label} reply lacks boolean ${key}`);
      return value;
    },
    integer(header, key) {
      const value = header[key];
      if (typeof value !== "number" || !Number.isInteger(value)) {
        throw new Error(`${label} reply lacks integer ${key}`);
      }
      return value;
    },
    string(header, key) {
      const value = header[key];
      if (typeof value !== "string") throw new Error(`${label} reply lacks string ${key}`);
      return value;
    },
  };
}

function encodeFrame(header: Record<string, unknown>, body?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const bodyLength = body?.length ?? 0;
  const frame = Buffer.alloc(8 + json.length + bodyLength);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, 4);
  frame.writeUInt32BE(bodyLength, 4 + json.length);
  if (body !== undefined) frame.set(body, 8 + json.length);
  return frame;
}

function decodeFrame(data: Buffer): { header: Buffer; body: Buffer; consumed: number } | undefined {
  if (data.length < 4) return undefined;
  const headerLength = data.readUInt32BE(0);
  const bodyLengthAt = 4 + headerLength;
  if (data.length < bodyLengthAt + 4) return undefined;
  const bodyLength = data.readUInt32BE(bodyLengthAt);
  const end = bodyLengthAt + 4 + bodyLength;
  if (data.length < end) return undefined;
  return {
    header: data.subarray(4, bodyLengthAt),
    // A copy, so a result does not pin the whole receive buffer.
    body: Buffer.from(data.subarray(bodyLengthAt + 4, end)),
    consumed: end,
  };
}
