/**
 * The parts of undici this client uses, loaded alone: the HTTP/1.1 Client, its connector, and
 * the request method (which index.js mixes into every dispatcher; called here on the Client).
 *
 * `require("undici")` loads all of it (fetch, WebSocket, cookies, caches): about 80 ms on every
 * process start, against 37 ms for the HTTP/1.1 Client, its connector and request, and every start
 * counts: the CLI's, and the dynamic provider's on every `pulumi up` (issue 15). undici has no
 * "exports" map, so its modules can be required by path; should a release move them, the
 * whole package is loaded instead, which is slower but the same classes (index.js re-exports
 * these very modules).
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import type * as Undici from "undici";

function part<T>(path: string, fromPackage: (undici: typeof Undici) => T): T {
  try {
    return require(path) as T;
  } catch {
    return fromPackage(require("undici") as typeof Undici);
  }
}

export const Client: typeof Undici.Client = part(
  "undici/lib/dispatcher/client",
  (undici) => undici.Client,
);
export type Client = Undici.Client;

/** Dispatcher#request: call it with the Client as `this`. */
export const request: typeof Undici.Client.prototype.request = part(
  "undici/lib/api/api-request",
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the Client as this
  (undici) => undici.Client.prototype.request,
);

export const buildConnector: typeof Undici.buildConnector = part(
  "undici/lib/core/connect",
  (undici) => undici.buildConnector,
);
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace buildConnector {
  type connector = Undici.buildConnector.connector;
}
