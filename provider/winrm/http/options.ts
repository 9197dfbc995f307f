/** What the HTTP layer is configured with, and what each request says about itself. */
import type { Secret } from "../../auth/credentials";
import type { Clock } from "../wait-queue";
import type { WaitProgress } from "./host-wait";

export type AuthMethod = "negotiate" | "ntlm" | "basic";
export type EncryptionMode = "auto" | "always" | "never";

export interface TlsOptions {
  /** PEM CA bundle to trust instead of the default roots (Node's and the system's). */
  ca?: string | Buffer;
  /** SHA-256 fingerprint of the server certificate (hex, colons allowed): trust exactly it. */
  certFingerprint?: string;
  /** Skip certificate verification entirely. Only when set by name. */
  insecure?: boolean;
}

export interface TransportOptions {
  /** http(s)://host:port/wsman */
  endpoint: URL;
  auth: AuthMethod;
  user: string;
  secret: Secret;
  encryption: EncryptionMode;
  allowUnencrypted: boolean;
  tls: TlsOptions;
  connectTimeoutMs: number;
  /** How long to keep retrying a host that refuses or resets connections (still booting). */
  readyTimeoutMs: number;
  /** Most authenticated connections to keep open at once. */
  maxConnections: number;
  /** Largest response body accepted, bytes. */
  maxResponseBytes: number;
  /** Where waits read time from; tests move it by hand. Default: the system clock. */
  clock?: Clock;
  /** Told while requests wait for a host that does not answer yet (see HostWait). */
  onWaiting?: (progress: WaitProgress) => void;
}

export interface RequestOptions {
  /** Whether repeating the request after a dropped connection is safe (Receive, Signal, Delete). */
  idempotent: boolean;
  /** HTTP read timeout: above the request's WS-Man OperationTimeout. */
  timeoutMs: number;
  /**
   * The host may hold this request until the command consumes it: a Send of stdin is answered
   * only once the command's input pipe has room (MS-WSMV 3.1.4.12).
   */
  mayBlockOnHost?: boolean;
  /**
   * Ends the request's waits: for a free connection, and between attempts at a host that is
   * not up yet. A request already on the wire is left to finish: cutting it would leave
   * unknown whether the host acted on it.
   */
  signal?: AbortSignal;
  /**
   * The signal also abandons the request once it is on the wire: its connection is closed
   * and the call rejects with the signal's reason. Only for a request whose caller can make
   * an unknown outcome safe (a Command whose shell is then deleted).
   */
  abandonOnSignal?: boolean;
}

/** One HTTP reply, its body read whole (bounded by maxResponseBytes). */
export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A SOAP reply as the layers above see it: decrypted, with its HTTP status. */
export interface SoapReply {
  statusCode: number;
  soap: Buffer;
}
