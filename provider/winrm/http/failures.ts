/**
 * How the HTTP layer classifies what went wrong: a request that never reached the host
 * authenticated (always safe to retry), a session the host forgot, a socket failure worth a
 * retry, and undici's errors translated into the project's own.
 */
import { TimeoutError, TlsError, WinRMError } from "../../errors";

/** Statuses and socket errors that mean "nobody is answering yet" while a host boots. */
const RETRYABLE_CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

/** The first `code` on the error or its causes (undici wraps socket errors). */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    current = current.cause;
  }
  return undefined;
}

export function isConnectionFailure(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRYABLE_CONNECT_CODES.has(code);
}

/** Errors met while opening a socket, before any byte of a request was written to it. */
const connectFailures = new WeakSet<object>();

/** Marks `error` as met while connecting (see verifyingConnector). */
export function markConnectFailure<T>(error: T): T {
  if (typeof error === "object" && error !== null) connectFailures.add(error);
  return error;
}

/**
 * Whether `error` (or a cause) was met while opening the socket: refused, timed out, no
 * route, no name, TLS not up. The request was never written, so the host cannot have acted on
 * it, and sending it again is safe whatever it is.
 */
export function failedToConnect(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    if (connectFailures.has(current)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A request that never reached the host as an authenticated request (the connection failed
 * while connecting or authenticating, or the host is still booting): always safe to retry.
 */
export class NotSent extends Error {
  constructor(cause: unknown) {
    super("not sent", { cause });
  }
}

/** The host answered 401 to a sealed request: it no longer knows this connection's context. */
export class SessionExpired extends Error {}

/** undici's timeout and TLS failures as TimeoutError and TlsError; others unchanged. */
export function translateRequestError(error: unknown, endpoint: URL, timeoutMs: number): Error {
  if (error instanceof WinRMError) return error;
  const code = errorCode(error);
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new TimeoutError(`no answer from ${endpoint.host} within ${timeoutMs} ms`, timeoutMs, {
      cause: error,
    });
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME|ALTNAME/i.test(code)) {
    return new TlsError(
      `TLS verification of ${endpoint.host} failed (${code}): pass the issuing CA as caCert, ` +
        "pin the certificate with certFingerprint, or, knowing the risk, set insecure: true",
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
