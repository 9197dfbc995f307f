// Drives MIT Kerberos' own GSSAPI (libgssapi_krb5, through Debian's python3-gssapi) as an
// initiator or acceptor in a child process, so interop tests can put our Kerberos code on the
// other side of the reference implementation, against a realm from test/support/mit-kdc.ts.
//
// The child is test/interop/peers/gssapi_peer.py run by the system's /usr/bin/python3 (not the
// venv: python3-gssapi is a Debian package linked against the system's MIT libraries), or by
// $PULUMI_WINRM_GSSAPI_PYTHON. The frames are those of pyspnego-peer.ts:
//   u32be H | H bytes of UTF-8 JSON header | u32be B | B bytes of binary body
// one reply per request, in order; the .py file documents every operation.

import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";
import { repoRoot } from "./pyspnego-peer";

const PEER_SCRIPT = path.join("test", "interop", "peers", "gssapi_peer.py");
const SYSTEM_PYTHON = "/usr/bin/python3";
const STDERR_TAIL_BYTES = 8192;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const CLOSE_GRACE_MS = 5_000;

export type GssRole = "initiate" | "accept";
export type GssMech = "krb5" | "spnego";
export type GssFlag =
  | "delegate"
  | "mutual"
  | "replay"
  | "sequence"
  | "confidentiality"
  | "integrity"
  | "anonymity"
  | "dce_style"
  | "identify";

/** How unwrapWinrm hands header and data back to GSSAPI; gssapi_peer.py explains each. */
export type WinrmUnwrapMethod = "auto" | "iov" | "iovPadding" | "unwrap";

export interface GssInitOptions {
  role: GssRole;
  /** "krb5": raw RFC 4121 tokens; "spnego": SPNEGO around them. Default "krb5". */
  mech?: GssMech;
  /**
   * "HTTP@host.winrm.test" (host-based service) or a principal "HTTP/host.winrm.test@WINRM.TEST".
   * Required to initiate; an acceptor with a target uses only that keytab entry.
   */
  target?: string;
  /** Application data of the channel bindings, e.g. "tls-server-end-point:" + hash. */
  channelBindings?: Uint8Array;
  /** Initiator's request; default mutual, sequence, replay, integrity, confidentiality. */
  flags?: GssFlag[];
  /** Initiator: credential cache ("FILE:/path" from MitRealm.kinit); default $KRB5CCNAME. */
  ccache?: string;
  /** Acceptor: keytab path; default $KRB5_KTNAME. */
  keytab?: string;
  /**
   * gss_krb5_set_allowable_enctypes (enctype numbers, see ENCTYPE_NUMBERS in mit-kdc.ts).
   * MIT against MIT negotiates an aes256 acceptor subkey (RFC 4537) whatever the ticket's
   * session key; limiting either side to one enctype is how an rc4 or aes128 context happens.
   */
  enctypes?: number[];
}

export interface GssContextInfo {
  complete: boolean;
  /** "krb5" (also under SPNEGO: the negotiated mechanism), or a dotted OID. */
  mech?: string;
  /** Granted flags, including output-only ones: protection_ready, channel_bound, ... */
  flags?: string[];
  /** The enctype of the key that protects messages (acceptor subkey if any). */
  enctype?: number;
  initiatorName?: string;
  targetName?: string;
  locallyInitiated?: boolean;
}

export interface GssStepResult extends GssContextInfo {
  /** Output token, absent when the peer produced none. */
  token?: Buffer;
}

export interface GssWinrmWrapResult {
  /** header || data || padding, as a WinRM sender puts them on the wire. */
  wrapped: Buffer;
  headerLength: number;
  paddingLength: number;
  /** Hex SHA-256 of the plaintext. */
  sha256: string;
}

export interface GssWinrmUnwrapOptions {
  method?: WinrmUnwrapMethod;
  /** For method "iovPadding": how many trailing bytes go into the PADDING buffer. */
  paddingLength?: number;
}

export interface GssapiPeerOptions {
  /** The child's environment on top of this process's: a realm's env, KRB5CCNAME, ... */
  env?: NodeJS.ProcessEnv;
  /** Reject (and kill the peer) when one request takes longer. Default 60 s. */
  requestTimeoutMs?: number;
}

export interface GssPeerReply {
  header: Record<string, unknown>;
  body: Buffer;
}

/** GSS major status codes (RFC 2744) a test may expect in GssapiPeerError.major. */
export const GSS_S = {
  BAD_BINDINGS: 4 << 16,
  BAD_MIC: 6 << 16,
  NO_CRED: 7 << 16,
  DEFECTIVE_TOKEN: 9 << 16,
  DEFECTIVE_CREDENTIAL: 10 << 16,
  FAILURE: 13 << 16,
  /** Supplementary bits: python-gssapi raises on these too. */
  DUPLICATE_TOKEN: 1 << 1,
  OLD_TOKEN: 1 << 2,
  UNSEQ_TOKEN: 1 << 3,
  GAP_TOKEN: 1 << 4,
} as const;

/** The peer answered {ok:false}: GSSAPI (or the peer script) raised an exception. */
export class GssapiPeerError extends Error {
  override readonly name = "GssapiPeerError";
  readonly op: string;
  /** python-gssapi's exception class, e.g. "BadChannelBindingsError", "BadMICError". */
  readonly pythonError: string;
  /** GSS major status, when GSSAPI failed. Routine error: (major >>> 16) & 0xff. */
  readonly major: number | undefined;
  /** Mechanism (krb5) minor status, e.g. 2529638943 for KRB5KRB_AP_ERR_BAD_INTEGRITY. */
  readonly minor: number | undefined;
  /** MIT's texts for the major and minor codes. */
  readonly gssMessage: string | undefined;
  /** A token the mechanism produced with the error, e.g. the acceptor's KRB-ERROR. */
  readonly errorToken: Buffer | undefined;

  constructor(op: string, header: Record<string, unknown>) {
    const pythonError = typeof header.error === "string" ? header.error : "UnknownError";
    const message = typeof header.message === "string" ? header.message : JSON.stringify(header);
    super(`gssapi peer ${op} failed: ${pythonError}: ${message}`);
    this.op = op;
    this.pythonError = pythonError;
    this.major = typeof header.major === "number" ? header.major : undefined;
    this.minor = typeof header.minor === "number" ? header.minor : undefined;
    this.gssMessage = typeof header.gssMessage === "string" ? header.gssMessage : undefined;
    this.errorToken =
      typeof header.errorToken === "string" ? Buffer.from(header.errorToken, "base64") : undefined;
  }

  /** The routine error of the major status (GSS_S_BAD_BINDINGS etc.), without supplementary bits. */
  get routineError(): number | undefined {
    return this.major === undefined ? undefined : this.major & 0x00ff0000;
  }
}

/** The interpreter that runs the peer: $PULUMI_WINRM_GSSAPI_PYTHON, else /usr/bin/python3. */
export function gssapiPeerPython(): string {
  const fromEnv = process.env.PULUMI_WINRM_GSSAPI_PYTHON;
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : SYSTEM_PYTHON;
}

export function gssapiPeerScript(): string {
  return path.join(repoRoot(), PEER_SCRIPT);
}

type Availability = { available: true } | { available: false; reason: string };
let cachedAvailability: Availability | undefined;

/** Whether the system Python exists and its python-gssapi has what the peer uses. Checked once. */
export function gssapiPeerAvailability(): Availability {
  if (cachedAvailability !== undefined) return cachedAvailability;
  cachedAvailability = checkAvailability();
  return cachedAvailability;
}

function checkAvailability(): Availability {
  const setupHint = "run `bash test/setup/system.sh` as root (installs python3-gssapi)";
  const python = gssapiPeerPython();
  if (path.isAbsolute(python) && !existsSync(python)) {
    return { available: false, reason: `gssapi peer: ${python} does not exist; ${setupHint}` };
  }
  // -I: the system interpreter alone, untouched by PYTHONPATH or an activated venv. The IOV
  // and krb5 extensions are optional in python-gssapi builds, and the peer needs both.
  const probe = spawnSync(
    python,
    ["-I", "-c", "import gssapi.raw as g; g.wrap_iov; g.unwrap_iov; g.krb5_set_allowable_enctypes"],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (probe.error !== undefined) {
    return {
      available: false,
      reason: `gssapi peer: cannot run ${python}: ${probe.error.message}; ${setupHint}`,
    };
  }
  if (probe.status !== 0) {
    const detail = probe.stderr.trim().split("\n").pop() ?? "";
    return {
      available: false,
      reason: `gssapi peer: ${python} cannot use python-gssapi (${detail}); ${setupHint}`,
    };
  }
  return { available: true };
}

/**
 * For node:test: undefined when the peer is available, else the reason to skip. Under CI (the
 * CI variable set) a missing peer throws instead: CI must not pass by skipping.
 */
export function gssapiPeerSkipReason(): string | undefined {
  const availability = gssapiPeerAvailability();
  if (availability.available) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") {
    throw new Error(`${availability.reason} (CI is set, so a missing peer is an error)`);
  }
  return availability.reason;
}

interface PendingRequest {
  op: string;
  frame: Buffer;
  resolve: (reply: GssPeerReply) => void;
  reject: (error: Error) => void;
}

/** One MIT GSSAPI security context in a child process. Always close() it. */
export class GssapiPeer {
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

  constructor(options: GssapiPeerOptions = {}) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.child = spawn(gssapiPeerPython(), ["-I", gssapiPeerScript()], {
      cwd: repoRoot(),
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
    this.child.once("close", (code, signal) => {
      const how = signal !== null ? `signal ${signal}` : `status ${String(code)}`;
      this.fail(`gssapi peer exited with ${how}`);
      this.markExited();
    });
    this.child.once("error", (error) => {
      this.fail(`gssapi peer process error: ${error.message}`);
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
      this.fail(`gssapi peer stdin: ${error.message}`);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last bytes the child wrote to stderr (warnings, tracebacks, KRB5_TRACE output). */
  stderr(): string {
    return this.stderrTail.toString("utf8");
  }

  async init(options: GssInitOptions): Promise<void> {
    const { channelBindings, ...rest } = options;
    const header: Record<string, unknown> = { op: "init", ...rest };
    if (channelBindings !== undefined) {
      header.channelBindings = Buffer.from(channelBindings).toString("base64");
    }
    await this.request(header);
  }

  /** One handshake step. No token: the initiator's first step. */
  async step(token?: Uint8Array): Promise<GssStepResult> {
    const { header, body } = await this.request({ op: "step" }, token);
    const result: GssStepResult = contextInfo(header);
    if (body.length > 0) result.token = body;
    return result;
  }

  /** The context's state: mech, flags, enctype, names, once complete. */
  async info(): Promise<GssContextInfo> {
    const { header } = await this.request({ op: "info" });
    return contextInfo(header);
  }

  /** The peer wraps `size` random bytes of its own in the WinRM layout. */
  async wrapWinrm(size: number): Promise<GssWinrmWrapResult> {
    const { header, body } = await this.request({ op: "wrapWinrm", size });
    return winrmWrapResult(header, body);
  }

  /** The peer wraps the given plaintext in the WinRM layout. */
  async wrapWinrmData(plaintext: Uint8Array): Promise<GssWinrmWrapResult> {
    const { header, body } = await this.request({ op: "wrapWinrmData" }, plaintext);
    return winrmWrapResult(header, body);
  }

  /** Unwraps header || data (the first headerLength bytes are the header); resolves to the plaintext's hex SHA-256. */
  async unwrapWinrm(
    wrapped: Uint8Array,
    headerLength: number,
    options: GssWinrmUnwrapOptions = {},
  ): Promise<{ sha256: string; method: string }> {
    const { header } = await this.request({ op: "unwrapWinrm", headerLength, ...options }, wrapped);
    return { sha256: expectString(header, "sha256"), method: expectString(header, "method") };
  }

  /** As unwrapWinrm; resolves to the plaintext. */
  async unwrapWinrmData(
    wrapped: Uint8Array,
    headerLength: number,
    options: GssWinrmUnwrapOptions = {},
  ): Promise<Buffer> {
    const { body } = await this.request(
      { op: "unwrapWinrmData", headerLength, ...options },
      wrapped,
    );
    return body;
  }

  /** gss_wrap: one token. conf false: integrity only. */
  async wrap(plaintext: Uint8Array, conf = true): Promise<{ token: Buffer; encrypted: boolean }> {
    const { header, body } = await this.request({ op: "wrap", conf }, plaintext);
    return { token: body, encrypted: expectBoolean(header, "encrypted") };
  }

  /** gss_unwrap of one token. */
  async unwrap(token: Uint8Array): Promise<{ plaintext: Buffer; encrypted: boolean }> {
    const { header, body } = await this.request({ op: "unwrap" }, token);
    return { plaintext: body, encrypted: expectBoolean(header, "encrypted") };
  }

  /** gss_get_mic: resolves to the MIC token. */
  async getMic(message: Uint8Array): Promise<Buffer> {
    const { body } = await this.request({ op: "getMic" }, message);
    return body;
  }

  /** gss_verify_mic; rejects with GssapiPeerError (BadMICError, ...) when it does not verify. */
  async verifyMic(message: Uint8Array, mic: Uint8Array): Promise<void> {
    await this.request({ op: "verifyMic", micLength: mic.length }, Buffer.concat([mic, message]));
  }

  /** The key that protects messages and its enctype; key empty before the context is complete. */
  async sessionKey(): Promise<{ key: Buffer; enctype?: number }> {
    const { header, body } = await this.request({ op: "sessionKey" });
    return typeof header.enctype === "number"
      ? { key: body, enctype: header.enctype }
      : { key: body };
  }

  /** Low-level: one request frame, one reply frame. Rejects with GssapiPeerError on {ok:false}. */
  request(header: Record<string, unknown>, body?: Uint8Array): Promise<GssPeerReply> {
    const op = typeof header.op === "string" ? header.op : "request";
    return new Promise<GssPeerReply>((resolve, reject) => {
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
      this.failure = new Error("gssapi peer was closed");
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
      this.fail(`gssapi peer did not answer ${next.op} within ${this.requestTimeoutMs} ms`);
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
      this.fail("gssapi peer sent a reply with no request in flight");
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
      request.reject(new Error(`gssapi peer ${request.op}: bad reply header: ${String(error)}`));
      this.fail("gssapi peer sent an unreadable reply");
      this.child.kill("SIGKILL");
      return;
    }

    if (header.ok === true) {
      request.resolve({ header, body });
    } else {
      request.reject(new GssapiPeerError(request.op, header));
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

function contextInfo(header: Record<string, unknown>): GssContextInfo {
  const info: GssContextInfo = { complete: expectBoolean(header, "complete") };
  if (typeof header.mech === "string") info.mech = header.mech;
  if (Array.isArray(header.flags)) {
    info.flags = header.flags.filter((flag): flag is string => typeof flag === "string");
  }
  if (typeof header.enctype === "number") info.enctype = header.enctype;
  if (typeof header.initiatorName === "string") info.initiatorName = header.initiatorName;
  if (typeof header.targetName === "string") info.targetName = header.targetName;
  if (typeof header.locallyInitiated === "boolean") info.locallyInitiated = header.locallyInitiated;
  return info;
}

function winrmWrapResult(header: Record<string, unknown>, body: Buffer): GssWinrmWrapResult {
  return {
    wrapped: body,
    headerLength: expectInteger(header, "headerLength"),
    paddingLength: expectInteger(header, "paddingLength"),
    sha256: expectString(header, "sha256"),
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

function expectBoolean(header: Record<string, unknown>, key: string): boolean {
  const value = header[key];
  if (typeof value !== "boolean") throw new Error(`gssapi peer reply lacks boolean ${key}`);
  return value;
}

function expectInteger(header: Record<string, unknown>, key: string): number {
  const value = header[key];
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new Error(`gssapi peer reply lacks integer ${key}`);
  }
  return value;
}

function expectString(header: Record<string, unknown>, key: string): string {
  const value = header[key];
  if (typeof value !== "string") throw new Error(`gssapi peer reply lacks string ${key}`);
  return value;
}
