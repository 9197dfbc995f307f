/** What the HTTP layer is configured with, and what each request says about itself. */
import type { Secret } from "../../auth/credentials";
import type { Clock } from "../wait-queue";
import type { WaitProgress } from "./host-wait";

export type AuthMethod = "negotiate" | "kerberos" | "ntlm" | "basic";

/** Where Kerberos tickets come from and for which service (see auth/kerberos/tickets.ts). */
export interface KerberosOptions {
  /** The realm when the user is written DOMAIN\user or bare. */
  realm?: string;
  /** KDC addresses; default: krb5.conf, then DNS SRV records. */
  kdc?: readonly string[];
  /** The host's service principal; default HTTP/<host>. */
  spn?: string;
  /** A keytab with the user's keys, instead of a password. */
  keytab?: string;
  /** A FILE: credential cache; default KRB5CCNAME, then /tmp/krb5cc_<uid>. */
  ccache?: string;
  /** krb5.conf to read; default KRB5_CONFIG, then /etc/krb5.conf. */
  krb5Conf?: string;
}
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
  /** Absent only with auth "kerberos" from a credential cache or keytab. */
  secret: Secret | undefined;
  kerberos?: KerberosOptions;
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
   * A Receive: the host holds it until the command writes output or ends, or until the
   * OperationTimeout (MS-WSMV 3.1.4.14). One held longer than HELD_RECEIVE_MS means a command
   * is running a while, and callers waiting for its connection get another (http/pool.ts).
   */
  waitsForOutput?: boolean;
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
  /**
   * Another request to send on the same connection as soon as this one's reply is decrypted,
   * before its signature is checked and its body parsed, so that the host works on the next
   * one meanwhile (issue 15: a command's output, Receive after Receive). Called with a reply
   * of HTTP status 200 whose plaintext may serve only to decide; returns the request to
   * follow, or undefined. Its reply comes as this reply's `next`; the connection stays with
   * the caller until the last request that followed has settled.
   */
  followUp?: (reply: SoapReply) => FollowUp | undefined;
}

/** A request sent right behind another on its connection (RequestOptions.followUp). */
export interface FollowUp {
  soap: Buffer;
  options: RequestOptions;
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
  /** The reply to the request that followed this one (RequestOptions.followUp). */
  next?: Promise<SoapReply>;
}
