/**
 * HTTP Basic (RFC 7617): the user name and password on every request, in the clear unless TLS
 * carries them; validateSecurity refuses it over plain HTTP unless allowUnencrypted says so.
 */
import { InvalidArgumentError } from "../../errors";
import { type HttpAuthenticator, refusedError } from "./authenticator";
import type { TransportOptions } from "./options";

export function basicAuthenticator(options: TransportOptions): HttpAuthenticator {
  return {
    name: "basic",
    sealingProtocol: undefined,
    handshake: undefined,
    requestHeaders() {
      const secret = options.secret;
      if (secret === undefined || !("password" in secret)) {
        throw new InvalidArgumentError(
          "auth",
          "Basic authentication needs a password, not an NT hash",
        );
      }
      const pair = Buffer.from(`${options.user}:${secret.password}`, "utf8").toString("base64");
      return { authorization: `Basic ${pair}` };
    },
    refused: () => refusedError(options),
  };
}
