/**
 * The socket under a connection: TCP, or TLS verified against the default roots, a given CA, or
 * exactly one pinned certificate (its SHA-256 fingerprint), with the server certificate kept for
 * channel bindings (RFC 5929 tls-server-end-point).
 */
import { createHash } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { buildConnector } from "./undici";
import { InvalidArgumentError, TlsError } from "../../errors";
import { markConnectFailure } from "./failures";
import type { TransportOptions } from "./options";
import { defaultTrustedCertificates } from "./trust";

/** A fingerprint as 64 lowercase hex digits, or InvalidArgumentError. */
export function normaliseFingerprint(value: string): string {
  const hex = value.replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new InvalidArgumentError(
      "certFingerprint",
      "must be a SHA-256 fingerprint: 64 hex digits, colons allowed",
    );
  }
  return hex;
}

/**
 * undici's connector for the endpoint, calling `opened` with each new socket's server
 * certificate (undefined over TCP) once it passed verification or the pin.
 */
export function verifyingConnector(
  options: TransportOptions,
  opened: (peerCertificate: Buffer | undefined) => void,
): buildConnector.connector {
  const { endpoint, tls } = options;
  const https = endpoint.protocol === "https:";
  const pin = tls.certFingerprint ? normaliseFingerprint(tls.certFingerprint) : undefined;
  const base = buildConnector({
    timeout: options.connectTimeoutMs,
    maxCachedSessions: 0,
    ...(https
      ? { rejectUnauthorized: !(tls.insecure || pin), ca: tls.ca ?? defaultTrustedCertificates() }
      : {}),
  });
  return (connectOptions, callback) => {
    base(connectOptions, (error, socket) => {
      if (error) {
        // Nothing was written: the layers above may send the request again (failures.ts).
        callback(markConnectFailure(error), null);
        return;
      }
      if (!https) {
        opened(undefined);
        callback(null, socket);
        return;
      }
      const raw = (socket as TLSSocket).getPeerCertificate(false)?.raw;
      const actual = raw ? createHash("sha256").update(raw).digest("hex") : "(none)";
      if (pin && actual !== pin) {
        socket.destroy();
        callback(
          new TlsError(
            `the server certificate's SHA-256 fingerprint is ${actual}, not the pinned ${pin}: ` +
              "check certFingerprint, or that you reach the intended host",
          ),
          null,
        );
        return;
      }
      opened(raw ? Buffer.from(raw) : undefined);
      callback(null, socket);
    });
  };
}
