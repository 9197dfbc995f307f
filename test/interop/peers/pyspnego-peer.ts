// Drives pyspnego (an independent NTLM/SPNEGO implementation) as an initiator or acceptor in a
// child process, so interop tests can put our NTLM code on the other side of a real peer.
//
// The child is test/interop/peers/pyspnego_peer.py run by the venv that test/setup/python.sh
// builds (<repo>/.venv), or by $PULUMI_WINRM_PYTHON. They talk in frames on stdin/stdout:
//   u32be H | H bytes of UTF-8 JSON header | u32be B | B bytes of binary body
// one reply per request, in order; the .py file documents every operation.

import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";

const PEER_SCRIPT = path.join("test", "interop", "peers", "pyspnego_peer.py");
const STDERR_TAIL_BYTES = 8192;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const CLOSE_GRACE_MS = 5_000;

export type PeerRole = "initiate" | "accept";
export type PeerProtocol = "ntlm" | "negotiate";

export interface PeerInitOptions {
  role: PeerRole;
  /** "ntlm": raw NTLMSSP tokens; "negotiate": SPNEGO-wrapped NTLM. */
  protocol: PeerProtocol;
  /** Initiator only: "DOMAIN\\user", "user@domain" (UPN, sent with an empty domain) or "user". */
  username?: string;
  /** Initiator only. Without password and ntHash the initiator reads NTLM_USER_FILE. */
  password?: string;
  /** Initiator only: the NT hash (MD4 of the UTF-16LE password) as 32 hex digits. */
  ntHash?: string;
  hostname?: string;
  /** SPN service class; the peer defaults to "HTTP". */
  service?: string;
  /**
   * Application data of the gss_channel_bindings_struct, e.g.
   * "tls-server-end-point:" + certificate hash. Absent: no channel bindings.
   */
  channelBindings?: Uint8Array;
}

export interface PeerStepResult {
  /** Output token, absent when the peer produced none. */
  token?: Buffer;
  complete: boolean;
  /** Present once complete: "ntlm". */
  negotiatedProtocol?: string;
  /** Acceptor, once complete: "DOMAIN\\user" or the bare/UPN user name the initiator sent. */
  clientPrincipal?: string;
}

export interface PeerWrapResult {
  /** header (the 16-byte NTLM signature) followed by the sealed data. */
  wrapped: Buffer;
  headerLength: number;
}

export interface PeerRandomWrapResult extends PeerWrapResult {
  /** Hex SHA-256 of the random plaintext the peer generated and wrapped. */
  sha256: string;
}

export interface PyspnegoPeerOptions {
  /** Extra environment for the child, e.g. NTLM_USER_FILE for an acceptor. */
  env?: NodeJS.ProcessEnv;
  /** Reject (and kill the peer) when one request takes longer. Default 60 s. */
  requestTimeoutMs?: number;
}

export interface PeerReply {
  header: Record<string, unknown>;
  body: Buffer;
}

/** The peer answered {ok:false}: pyspnego (or the peer script) raised an exception. */
export class PeerError extends Error {
  override readonly name = "PeerError";
  /** Python exception class name, e.g. "InvalidTokenError", "BadMICError", "BadBindingsError". */
  readonly pythonError: string;
  readonly op: string;

  constructor(op: string, pythonError: string, message: string) {
    super(`pyspnego peer ${op} failed: ${pythonError}: ${message}`);
    this.op = op;
    this.pythonError = pythonError;
  }
}

let cachedRepoRoot: string | undefined;

/** The repository root: the nearest folder above this file that holds the peer script. */
export function repoRoot(): string {
  if (cachedRepoRoot !== undefined) return cachedRepoRoot;
  // Compiled JS runs from dist/test/interop/peers/, the source from test/interop/peers/.
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, PEER_SCRIPT)) && existsSync(path.join(dir, "package.json"))) {
      cachedRepoRoot = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find ${PEER_SCRIPT} in any folder above ${__dirname}`);
    }
    dir = parent;
  }
}

/** The interpreter that runs the peer: $PULUMI_WINRM_PYTHON, else <repo>/.venv/bin/python. */
export function peerPython(): string {
  const fromEnv = process.env.PULUMI_WINRM_PYTHON;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return path.join(repoRoot(), ".venv", "bin", "python");
}

export function peerScript(): string {
  return path.join(repoRoot(), PEER_SCRIPT);
}

type Availability = { available: true } | { available: false; reason: string };
let cachedAvailability: Availability | undefined;

/** Whether the peer's Python exists and can import spnego. Checked once per process. */
export function pythonPeerAvailability(): Availability {
  if (cachedAvailability !== undefined) return cachedAvailability;
  cachedAvailability = checkAvailability();
  return cachedAvailability;
}

function checkAvailability(): Availability {
  const setupHint = "run `bash test/setup/python.sh` (npm run setup:peers)";
  let python: string;
  try {
    python = peerPython();
  } catch (error) {
    return { available: false, reason: `pyspnego peer: ${String(error)}` };
  }
  if (path.isAbsolute(python) && !existsSync(python)) {
    return { available: false, reason: `pyspnego peer: ${python} does not exist; ${setupHint}` };
  }
  const probe = spawnSync(python, ["-c", "import spnego"], { encoding: "utf8", timeout: 30_000 });
  if (probe.error !== undefined) {
    return {
      available: false,
      reason: `pyspnego peer: cannot run ${python}: ${probe.error.message}; ${setupHint}`,
    };
  }
  if (probe.status !== 0) {
    const detail = probe.stderr.trim().split("\n").pop() ?? "";
    return {
      available: false,
      reason: `pyspnego peer: ${python} cannot import spnego (${detail}); ${setupHint}`,
    };
  }
  return { available: true };
}

/**
 * For node:test: undefined when the peer is available, else the reason to skip, as in
 * `test(name, { skip: peerSkipReason() }, fn)` or `const r = peerSkipReason(); if (r) t.skip(r)`.
 * Under CI (the CI variable set) a missing peer throws instead: CI must not pass by skipping.
 */
export function peerSkipReason(): string | undefined {
  const availability = pythonPeerAvailability();
  if (availability.available) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") {
    throw new Error(`${availability.reason} (CI is set, so a missing peer is an error)`);
  }
  return availability.reason;
}

interface PendingRequest {
  op: string;
  frame: Buffer;
  resolve: (reply: PeerReply) => void;
  reject: (error: Error) => void;
}

/** One pyspnego security context in a child process. Always close() it. */
export class PyspnegoPeer {
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

  constructor(options: PyspnegoPeerOptions = {}) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.child = spawn(peerPython(), [peerScript()], {
      cwd: repoRoot(),
      env: { ...process.env, PYTHONUNBUFFERED: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
    this.child.once("close", (code, signal) => {
      const how = signal !== null ? `signal ${signal}` : `status ${String(code)}`;
      this.fail(`pyspnego peer exited with ${how}`);
      this.markExited();
    });
    this.child.once("error", (error) => {
      this.fail(`pyspnego peer process error: ${error.message}`);
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
      this.fail(`pyspnego peer stdin: ${error.message}`);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last bytes the child wrote to stderr (warnings, tracebacks). */
  stderr(): string {
    return this.stderrTail.toString("utf8");
  }

  async init(options: PeerInitOptions): Promise<void> {
    const { channelBindings, ...rest } = options;
    const header: Record<string, unknown> = { op: "init", ...rest };
    if (channelBindings !== undefined) {
      header.channelBindings = Buffer.from(channelBindings).toString("base64");
    }
    await this.request(header);
  }

  /** One handshake step. No token: the initiator's first step. */
  async step(token?: Uint8Array): Promise<PeerStepResult> {
    const { header, body } = await this.request({ op: "step" }, token);
    const result: PeerStepResult = { complete: expectBoolean(header, "complete") };
    if (body.length > 0) result.token = body;
    if (typeof header.negotiatedProtocol === "string") {
      result.negotiatedProtocol = header.negotiatedProtocol;
    }
    if (typeof header.clientPrincipal === "string") {
      result.clientPrincipal = header.clientPrincipal;
    }
    return result;
  }

  /** The peer wraps `size` random bytes of its own (wrap_winrm). */
  async wrap(size: number): Promise<PeerRandomWrapResult> {
    const { header, body } = await this.request({ op: "wrap", size });
    return {
      wrapped: body,
      headerLength: expectInteger(header, "headerLength"),
      sha256: expectString(header, "sha256"),
    };
  }

  /** The peer wraps the given plaintext (wrap_winrm). */
  async wrapData(plaintext: Uint8Array): Promise<PeerWrapResult> {
    const { header, body } = await this.request({ op: "wrapData" }, plaintext);
    return { wrapped: body, headerLength: expectInteger(header, "headerLength") };
  }

  /** unwrap_winrm(wrapped[:headerLength], wrapped[headerLength:]); resolves to the plaintext's hex SHA-256. */
  async unwrap(wrapped: Uint8Array, headerLength: number): Promise<string> {
    const { header } = await this.request({ op: "unwrap", headerLength }, wrapped);
    return expectString(header, "sha256");
  }

  /** unwrap_winrm as above; resolves to the plaintext. */
  async unwrapData(wrapped: Uint8Array, headerLength: number): Promise<Buffer> {
    const { body } = await this.request({ op: "unwrapData", headerLength }, wrapped);
    return body;
  }

  /** The exported session key; empty before the context is complete. */
  async sessionKey(): Promise<Buffer> {
    const { body } = await this.request({ op: "sessionKey" });
    return body;
  }

  /** Low-level: one request frame, one reply frame. Rejects with PeerError on {ok:false}. */
  request(header: Record<string, unknown>, body?: Uint8Array): Promise<PeerReply> {
    const op = typeof header.op === "string" ? header.op : "request";
    return new Promise<PeerReply>((resolve, reject) => {
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
      this.failure = new Error("pyspnego peer was closed");
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
      this.fail(`pyspnego peer did not answer ${next.op} within ${this.requestTimeoutMs} ms`);
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
      this.fail("pyspnego peer sent a reply with no request in flight");
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
      request.reject(new Error(`pyspnego peer ${request.op}: bad reply header: ${String(error)}`));
      this.fail("pyspnego peer sent an unreadable reply");
      this.child.kill("SIGKILL");
      return;
    }

    if (header.ok === true) {
      request.resolve({ header, body });
    } else {
      const pythonError = typeof header.error === "string" ? header.error : "UnknownError";
      const message = typeof header.message === "string" ? header.message : JSON.stringify(header);
      request.reject(new PeerError(request.op, pythonError, message));
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

function expectBoolean(header: Record<string, unknown>, key: string): boolean {
  const value = header[key];
  if (typeof value !== "boolean") throw new Error(`pyspnego peer reply lacks boolean ${key}`);
  return value;
}

function expectInteger(header: Record<string, unknown>, key: string): number {
  const value = header[key];
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new Error(`pyspnego peer reply lacks integer ${key}`);
  }
  return value;
}

function expectString(header: Record<string, unknown>, key: string): string {
  const value = header[key];
  if (typeof value !== "string") throw new Error(`pyspnego peer reply lacks string ${key}`);
  return value;
}
