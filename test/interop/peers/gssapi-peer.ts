// Drives MIT Kerberos' own GSSAPI (libgssapi_krb5, through Debian's python3-gssapi) as an
// initiator or acceptor in a child process, so interop tests can put our Kerberos code on the
// other side of the reference implementation, against a realm from test/support/mit-kdc.ts.
//
// The child is test/interop/peers/gssapi_peer.py run by the system's /usr/bin/python3 (not the
// venv: python3-gssapi is a Debian package linked against the system's MIT libraries), or by
// $PULUMI_WINRM_GSSAPI_PYTHON. It speaks the frames of framed-peer.ts, one reply per request, in
// order; the .py file documents every operation.

import * as path from "node:path";
import { FramedPeer, initRequest, pythonFailure, replyFields } from "./framed-peer";
import type { FramedReply } from "./framed-peer";
import { probePeerPython, skipReasonOf, type PeerAvailability } from "./peer-availability";
import { repoRoot } from "./pyspnego-peer";

const LABEL = "gssapi peer";
const replyField = replyFields(LABEL);
const PEER_SCRIPT = path.join("test", "interop", "peers", "gssapi_peer.py");
const SYSTEM_PYTHON = "/usr/bin/python3";

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

export type GssPeerReply = FramedReply;

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
    const { pythonError, message } = pythonFailure(header);
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

let cachedAvailability: PeerAvailability | undefined;

/** Whether the system Python exists and its python-gssapi has what the peer uses. Checked once. */
export function gssapiPeerAvailability(): PeerAvailability {
  cachedAvailability ??= probePeerPython({
    label: LABEL,
    python: gssapiPeerPython(),
    // -I: the system interpreter alone, untouched by PYTHONPATH or an activated venv. The IOV
    // and krb5 extensions are optional in python-gssapi builds, and the peer needs both.
    args: [
      "-I",
      "-c",
      "import gssapi.raw as g; g.wrap_iov; g.unwrap_iov; g.krb5_set_allowable_enctypes",
    ],
    cannot: "cannot use python-gssapi",
    setupHint: "run `bash test/setup/system.sh` as root (installs python3-gssapi)",
  });
  return cachedAvailability;
}

/**
 * For node:test: undefined when the peer is available, else the reason to skip. Under CI (the
 * CI variable set) a missing peer throws instead: CI must not pass by skipping.
 */
export function gssapiPeerSkipReason(): string | undefined {
  return skipReasonOf(gssapiPeerAvailability());
}

/** One MIT GSSAPI security context in a child process. Always close() it. */
export class GssapiPeer extends FramedPeer {
  constructor(options: GssapiPeerOptions = {}) {
    super({
      // -I, as in the probe: nothing in the environment may put another gssapi in front of
      // python3-gssapi. It also leaves the script's folder off sys.path; gssapi_peer.py adds it.
      command: [gssapiPeerPython(), "-I", gssapiPeerScript()],
      label: LABEL,
      cwd: repoRoot(),
      replyError: (op, header) => new GssapiPeerError(op, header),
      ...options,
    });
  }

  async init(options: GssInitOptions): Promise<void> {
    await this.request(initRequest(options));
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
    return {
      sha256: replyField.string(header, "sha256"),
      method: replyField.string(header, "method"),
    };
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
    return { token: body, encrypted: replyField.boolean(header, "encrypted") };
  }

  /** gss_unwrap of one token. */
  async unwrap(token: Uint8Array): Promise<{ plaintext: Buffer; encrypted: boolean }> {
    const { header, body } = await this.request({ op: "unwrap" }, token);
    return { plaintext: body, encrypted: replyField.boolean(header, "encrypted") };
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
}

function contextInfo(header: Record<string, unknown>): GssContextInfo {
  const info: GssContextInfo = { complete: replyField.boolean(header, "complete") };
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
    headerLength: replyField.integer(header, "headerLength"),
    paddingLength: replyField.integer(header, "paddingLength"),
    sha256: replyField.string(header, "sha256"),
  };
}
