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
