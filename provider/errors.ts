/**
 * The one error hierarchy of pulumi-winrm. Every layer may import this leaf file; it imports
 * nothing. Each class has a stable `code` that callers and tests match on, accepts `{ cause }`,
 * and carries its context as fields rather than only in the message.
 *
 * Messages never contain a password, a hash or a key: the fields that name a user say which
 * user and which form was used, nothing more.
 */

export const ErrorCode = Object.freeze({
  INVALID_ARGUMENT: "WINRM_INVALID_ARGUMENT",
  PROTOCOL: "WINRM_PROTOCOL",
  AUTHENTICATION: "WINRM_AUTHENTICATION",
  INTEGRITY: "WINRM_INTEGRITY",
  UNSUPPORTED: "WINRM_UNSUPPORTED",
  WSMAN_FAULT: "WINRM_WSMAN_FAULT",
  HTTP: "WINRM_HTTP",
  UNREACHABLE: "WINRM_UNREACHABLE",
  TLS: "WINRM_TLS",
  TIMEOUT: "WINRM_TIMEOUT",
  PLAINTEXT_REFUSED: "WINRM_PLAINTEXT_REFUSED",
  CONNECTION_LOST: "WINRM_CONNECTION_LOST",
  COMMAND_FAILED: "WINRM_COMMAND_FAILED",
} as const);
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface WinRMErrorOptions {
  cause?: unknown;
}

/** Base class: catch this to catch every error pulumi-winrm raises on purpose. */
export class WinRMError extends Error {
  override name = "WinRMError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: WinRMErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** A caller passed an option that cannot work; `option` names it as the caller spelled it. */
export class InvalidArgumentError extends WinRMError {
  override name = "InvalidArgumentError";
  readonly option: string;

  constructor(option: string, reason: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.INVALID_ARGUMENT, `invalid ${option}: ${reason}`, options);
    this.option = option;
  }
}

/**
 * Bytes from the peer do not form the structure they claim to be: wrong signature, a length or
 * offset past the end, an impossible count. `structure` names the wire structure, as the
 * specification names it (for example `CHALLENGE_MESSAGE` or `NegTokenResp`).
 */
export class ProtocolError extends WinRMError {
  override name = "ProtocolError";
  readonly structure: string;

  constructor(structure: string, reason: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.PROTOCOL, `malformed ${structure}: ${reason}`, options);
    this.structure = structure;
  }
}

/**
 * Authentication was refused or could not be completed: a wrong password, an unknown user, a
 * peer whose capabilities fall short of what security requires, a failed MIC or channel
 * binding check. `user` is the name as given (never the password).
 */
export class AuthenticationError extends WinRMError {
  override name = "AuthenticationError";
  readonly user: string | undefined;

  constructor(message: string, options: WinRMErrorOptions & { user?: string } = {}) {
    super(ErrorCode.AUTHENTICATION, message, options);
    this.user = options.user;
  }
}

/** What a Kerberos failure comes down to, for callers that branch on it. */
export type KerberosFailure =
  | "wrong-password"
  | "unknown-principal"
  | "unknown-service"
  | "clock-skew"
  | "kdc-unreachable"
  | "ticket-expired"
  | "account-unusable"
  | "unsupported-enctype"
  | "wrong-realm"
  | "acceptor-key"
  | "no-credentials"
  | "protocol";

/**
 * A Kerberos exchange failed: a KRB-ERROR from the KDC or the service, a KDC that cannot be
 * reached, or a reply that does not verify. `failure` classifies it and the message says what
 * to change; `kerberosCode` is the RFC 4120 7.5.9 error code when the peer sent one.
 */
export class KerberosError extends AuthenticationError {
  override name = "KerberosError";
  readonly failure: KerberosFailure;
  readonly kerberosCode: number | undefined;

  constructor(
    failure: KerberosFailure,
    message: string,
    options: WinRMErrorOptions & { user?: string; kerberosCode?: number } = {},
  ) {
    super(message, options);
    this.failure = failure;
    this.kerberosCode = options.kerberosCode;
  }
}

/**
 * A sealed or signed message failed verification: its signature does not match, or its
 * sequence number is not the one expected. Subclasses AuthenticationError because, to the
 * caller, a message that does not verify is a message from someone who is not authenticated.
 */
export class IntegrityError extends AuthenticationError {
  override name = "IntegrityError";
  override readonly code = ErrorCode.INTEGRITY;
}

/** The peer asks for something this implementation deliberately does not do. */
export class UnsupportedError extends WinRMError {
  override name = "UnsupportedError";

  constructor(message: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.UNSUPPORTED, message, options);
  }
}

/**
 * The host answered with a WS-Management fault (MS-WSMV 2.2.4.x, WS-Management 14.6).
 * `wsmanCode` is the numeric WSManFault Code (for example 2150858793, OperationTimeout);
 * `subcode` the SOAP subcode such as `w:TimedOut`; `machine` the host that raised it.
 */
export class WSManFault extends WinRMError {
  override name = "WSManFault";
  readonly wsmanCode: number | undefined;
  readonly subcode: string | undefined;
  readonly machine: string | undefined;
  readonly reason: string;
  /** What the fault nests beneath its message (a provider's fault, extended error data). */
  readonly detail: string | undefined;

  constructor(
    fields: {
      wsmanCode?: number;
      subcode?: string;
      machine?: string;
      reason: string;
      detail?: string;
    },
    options: WinRMErrorOptions = {},
  ) {
    const code = fields.wsmanCode === undefined ? "" : ` ${fields.wsmanCode}`;
    const where = fields.machine ? ` on ${fields.machine}` : "";
    const detail = fields.detail ? `\n  detail: ${fields.detail}` : "";
    super(
      ErrorCode.WSMAN_FAULT,
      `WS-Management fault${code}${where}: ${fields.reason}${detail}`,
      options,
    );
    this.wsmanCode = fields.wsmanCode;
    this.subcode = fields.subcode;
    this.machine = fields.machine;
    this.reason = fields.reason;
    this.detail = fields.detail;
  }
}

/** An HTTP status the protocol does not explain. */
export class HttpError extends WinRMError {
  override name = "HttpError";
  readonly statusCode: number;

  constructor(statusCode: number, message: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.HTTP, message, options);
    this.statusCode = statusCode;
  }
}

/** No connection could be made (refused, reset, DNS, unreachable), even after retrying. */
export class HostUnreachableError extends WinRMError {
  override name = "HostUnreachableError";
  readonly endpoint: string;
  /** What the last attempt met (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, ...), when known. */
  readonly reason: string | undefined;
  /** How long the host was waited for (the ready timeout), when it was. */
  readonly waitedMs: number | undefined;
  /** What the client was doing when the host went away, when that matters to the user. */
  readonly circumstance: string | undefined;
  /** The limit the message names, as the caller set it. */
  readonly limit: LimitName | undefined;

  constructor(
    endpoint: string,
    message: string,
    options: WinRMErrorOptions & {
      reason?: string;
      waitedMs?: number;
      circumstance?: string;
      limit?: LimitName;
    } = {},
  ) {
    super(ErrorCode.UNREACHABLE, message, options);
    this.endpoint = endpoint;
    this.reason = options.reason;
    this.waitedMs = options.waitedMs;
    this.circumstance = options.circumstance;
    this.limit = options.limit;
  }

  /**
   * The host did not answer within the ready timeout: the message names the limit as the
   * caller set it (`readyTimeoutMs` in milliseconds on the client, `readyTimeout` in seconds on
   * resources, `--ready-timeout` on the command line).
   */
  static afterWaiting(
    endpoint: URL,
    reason: string,
    waitedMs: number,
    limit: LimitName,
    cause?: unknown,
    circumstance?: string,
  ): HostUnreachableError {
    const advice = "check the host name, port and firewall";
    const message =
      (circumstance ? `${circumstance}; then ` : "") +
      (waitedMs === 0
        ? `cannot reach ${endpoint.host} (${reason}); ${limit.option} is 0, so it was tried once: ` +
          `${advice}, or set ${limit.option} for a host that is still booting`
        : `cannot reach ${endpoint.host} (${reason}) after trying for ${formatLimit(waitedMs, limit)}: ` +
          `${advice}, or raise ${limit.option} for a host that is still booting`);
    return new HostUnreachableError(endpoint.href, message, {
      cause,
      reason,
      waitedMs,
      circumstance,
      limit,
    });
  }

  /** The same failure, saying first what the client was doing when the host went away. */
  during(circumstance: string): HostUnreachableError {
    if (this.reason === undefined || this.waitedMs === undefined || this.limit === undefined) {
      return this;
    }
    return HostUnreachableError.afterWaiting(
      new URL(this.endpoint),
      this.reason,
      this.waitedMs,
      this.limit,
      this.cause,
      circumstance,
    );
  }

  /** The same failure with the limit named as `limit` names it; unchanged when not a wait. */
  restated(limit: LimitName): HostUnreachableError {
    if (this.reason === undefined || this.waitedMs === undefined) return this;
    return HostUnreachableError.afterWaiting(
      new URL(this.endpoint),
      this.reason,
      this.waitedMs,
      limit,
      this.cause,
      this.circumstance,
    );
  }
}

/** A time limit as the caller set it: its name and the unit it is written in. */
export interface LimitName {
  option: string;
  unit: "s" | "ms";
}

/** `ms` in the limit's unit: "300 s", "2.5 s", "800 ms". */
export function formatLimit(ms: number, limit: Pick<LimitName, "unit">): string {
  return limit.unit === "s" ? `${Number((ms / 1000).toFixed(3))} s` : `${ms} ms`;
}

/** The TLS handshake failed: untrusted certificate, wrong name, or fingerprint mismatch. */
export class TlsError extends WinRMError {
  override name = "TlsError";

  constructor(message: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.TLS, message, options);
  }
}

/** An operation did not finish in the time allowed; `timeoutMs` says which limit. */
export class TimeoutError extends WinRMError {
  override name = "TimeoutError";
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number, options: WinRMErrorOptions = {}) {
    super(ErrorCode.TIMEOUT, message, options);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The host refuses unencrypted messages, or the client refused to send credentials or
 * messages in the clear; the message names the setting to change.
 */
export class PlaintextRefusedError extends WinRMError {
  override name = "PlaintextRefusedError";

  constructor(message: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.PLAINTEXT_REFUSED, message, options);
  }
}

/**
 * The connection broke while a request that is not safe to repeat was in flight: the host may
 * or may not have acted on it, so it was not sent again.
 */
export class ConnectionLostError extends WinRMError {
  override name = "ConnectionLostError";

  constructor(message: string, options: WinRMErrorOptions = {}) {
    super(ErrorCode.CONNECTION_LOST, message, options);
  }
}

/** A remote command exited with a non-zero code where success was required. */
export class CommandFailedError extends WinRMError {
  override name = "CommandFailedError";
  readonly exitCode: number;
  /** The last part of the command's stderr, decoded. */
  readonly stderrTail: string;

  constructor(what: string, exitCode: number, stderrTail: string, options: WinRMErrorOptions = {}) {
    const tail = stderrTail.trim();
    super(
      ErrorCode.COMMAND_FAILED,
      `${what} exited with code ${exitCode}${tail ? `: ${tail}` : ""}`,
      options,
    );
    this.exitCode = exitCode;
    this.stderrTail = stderrTail;
  }
}

/** The error for an operation on a WinRMClient after its close(). */
export function clientClosedError(): ConnectionLostError {
  return new ConnectionLostError(
    "this WinRMClient was closed (close() was called, or the provider is shutting down): " +
      "create a new client to go on",
  );
}
