/** The checks that run before a byte is sent. */
import { X509Certificate } from "node:crypto";
import { InvalidArgumentError, PlaintextRefusedError } from "../../errors";
import type { TransportOptions } from "./options";
import { normaliseFingerprint } from "./tls";

/**
 * Refuses, before a byte is sent, any configuration that would put credentials or messages on
 * the wire in the clear without the caller having asked for it by name.
 */
export function validateSecurity(options: TransportOptions): void {
  const http = options.endpoint.protocol === "http:";
  if (!http && options.endpoint.protocol !== "https:") {
    throw new InvalidArgumentError(
      "endpoint",
      `protocol must be http or https, not ${options.endpoint.protocol}`,
    );
  }
  if (http && !options.allowUnencrypted) {
    if (options.auth === "basic") {
      throw new PlaintextRefusedError(
        "Basic authentication over plain HTTP would send the password in the clear: use HTTPS, or " +
          "negotiate/ntlm authentication (which encrypts), or set allowUnencrypted: true to accept the risk",
      );
    }
    if (options.encryption === "never") {
      throw new PlaintextRefusedError(
        'encryption "never" over plain HTTP would send every message in the clear: use "auto", HTTPS, ' +
          "or set allowUnencrypted: true to accept the risk",
      );
    }
  }
  if (options.tls.insecure && options.tls.certFingerprint) {
    throw new InvalidArgumentError(
      "insecure",
      "choose either insecure or certFingerprint, not both",
    );
  }
  if (options.tls.certFingerprint) normaliseFingerprint(options.tls.certFingerprint);
  if (options.tls.ca) {
    try {
      new X509Certificate(options.tls.ca);
    } catch (error) {
      throw new InvalidArgumentError("caCert", "is not a PEM certificate", { cause: error });
    }
  }
}
