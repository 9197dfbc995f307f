// Drives pyspnego (an independent NTLM/SPNEGO implementation) as an initiator or acceptor in a
// child process, so interop tests can put our NTLM code on the other side of a real peer.
//
// The child is test/interop/peers/pyspnego_peer.py run by the venv that test/setup/python.sh
// builds (<repo>/.venv), or by $PULUMI_WINRM_PYTHON. They talk in the frames of framed-peer.ts
// on stdin/stdout, one reply per request, in order; the .py file documents every operation.

import { existsSync } from "node:fs";
import * as path from "node:path";
import { FramedPeer, initRequest, pythonFailure, replyFields } from "./framed-peer";
import type { FramedReply } from "./framed-peer";
import { probePeerPython, skipReasonOf, type PeerAvailability } from "./peer-availability";

const LABEL = "pyspnego peer";
const replyField = replyFields(LABEL);
const PEER_SCRIPT = path.join("test", "interop", "peers", "pyspnego_peer.py");

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

export type PeerReply = FramedReply;

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

let cachedAvailability: PeerAvailability | undefined;

/** Whether the peer's Python exists and can import spnego. Checked once per process. */
export function pythonPeerAvailability(): PeerAvailability {
  cachedAvailability ??= checkAvailability();
  return cachedAvailability;
}

function checkAvailability(): PeerAvailability {
  let python: string;
  try {
    python = peerPython();
  } catch (error) {
    return { available: false, reason: `${LABEL}: ${String(error)}` };
  }
  return probePeerPython({
    label: LABEL,
    python,
    args: ["-c", "import spnego"],
    cannot: "cannot import spnego",
    setupHint: "run `bash test/setup/python.sh` (npm run setup:peers)",
  });
}

/**
 * For node:test: undefined when the peer is available, else the reason to skip, as in
 * `test(name, { skip: peerSkipReason() }, fn)` or `const r = peerSkipReason(); if (r) t.skip(r)`.
 * Under CI (the CI variable set) a missing peer throws instead: CI must not pass by skipping.
 */
export function peerSkipReason(): string | undefined {
  return skipReasonOf(pythonPeerAvailability());
}

/** One pyspnego security context in a child process. Always close() it. */
export class PyspnegoPeer extends FramedPeer {
  constructor(options: PyspnegoPeerOptions = {}) {
    super({
      command: [peerPython(), peerScript()],
      label: LABEL,
      cwd: repoRoot(),
      replyError: (op, header) => {
        const { pythonError, message } = pythonFailure(header);
        return new PeerError(op, pythonError, message);
      },
      ...options,
      env: { PYTHONUNBUFFERED: "1", ...options.env },
    });
  }

  async init(options: PeerInitOptions): Promise<void> {
    await this.request(initRequest(options));
  }

  /** One handshake step. No token: the initiator's first step. */
  async step(token?: Uint8Array): Promise<PeerStepResult> {
    const { header, body } = await this.request({ op: "step" }, token);
    const result: PeerStepResult = { complete: replyField.boolean(header, "complete") };
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
      headerLength: replyField.integer(header, "headerLength"),
      sha256: replyField.string(header, "sha256"),
    };
  }

  /** The peer wraps the given plaintext (wrap_winrm). */
  async wrapData(plaintext: Uint8Array): Promise<PeerWrapResult> {
    const { header, body } = await this.request({ op: "wrapData" }, plaintext);
    return { wrapped: body, headerLength: replyField.integer(header, "headerLength") };
  }

  /** unwrap_winrm(wrapped[:headerLength], wrapped[headerLength:]); resolves to the plaintext's hex SHA-256. */
  async unwrap(wrapped: Uint8Array, headerLength: number): Promise<string> {
    const { header } = await this.request({ op: "unwrap", headerLength }, wrapped);
    return replyField.string(header, "sha256");
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
}
