/**
 * Client options: every default lives here, and every option is validated here, with an
 * InvalidArgumentError that names the option as the caller spelled it.
 */
import { concealSecret, parseUserName, type Secret } from "../auth/credentials";
import { InvalidArgumentError } from "../errors";
import type { AuthMethod, EncryptionMode, TransportOptions } from "./http/options";

export type ScriptFamilyChoice = "auto" | "powershell" | "posix";

export interface ClientOptions {
  host: string;
  /** Default 5985, or 5986 with https. */
  port?: number;
  https?: boolean;
  /** Default "/wsman". */
  path?: string;
  /** `DOMAIN\user`, `user@domain` or `user`. */
  user: string;
  password?: string;
  /** The NT hash instead of the password (32 hex digits). */
  ntHash?: string;
  /** Default "negotiate". */
  auth?: AuthMethod;
  /** Default "auto": sealed over HTTP, TLS alone over HTTPS. */
  encryption?: EncryptionMode;
  /** Permit Basic or unencrypted messages over plain HTTP. Default false. */
  allowUnencrypted?: boolean;
  /** PEM CA bundle for HTTPS. */
  caCert?: string;
  /** SHA-256 fingerprint of the server certificate. */
  certFingerprint?: string;
  /** Skip TLS verification. Default false. */
  insecure?: boolean;
  /** WS-Man OperationTimeout in seconds. Default 20. */
  operationTimeout?: number;
  /** TCP and TLS connect timeout in ms. Default 15000. */
  connectTimeout?: number;
  /** How long to wait for a host that is still booting, ms. Default 30000. */
  readyTimeout?: number;
  /** The host's MaxEnvelopeSizekb. Default 500 (Windows Server 2012 and later; 150 on 2008 R2). */
  maxEnvelopeSizeKb?: number;
  /** Shells (and so concurrent commands) this client keeps at most. Default 5. */
  maxShells?: number;
  /**
   * Authenticated connections at most; at least 2. Default maxShells + 1, so that each
   * running command can wait for output on a connection of its own. Fewer means fewer
   * handshakes, with commands taking turns (a Receive then waits only briefly when others are
   * queued). Never 1: a command's stdin and its output must be able to travel at once, or a
   * command that writes while it reads would wait for us while we wait for it.
   */
  maxConnections?: number;
  /** Which family of remote scripts file operations use. Default "auto" (from Identify). */
  scripts?: ScriptFamilyChoice;
  locale?: string;
}

export interface ResolvedClientOptions {
  transport: TransportOptions;
  operationTimeoutSeconds: number;
  maxEnvelopeSize: number;
  maxShells: number;
  scripts: ScriptFamilyChoice;
  locale: string;
}

export const DEFAULTS = Object.freeze({
  httpPort: 5985,
  httpsPort: 5986,
  path: "/wsman",
  auth: "negotiate",
  encryption: "auto",
  operationTimeoutSeconds: 20,
  connectTimeoutMs: 15_000,
  readyTimeoutMs: 30_000,
  maxEnvelopeSizeKb: 500,
  maxShells: 5,
  locale: "en-US",
});

function positiveInteger(
  name: string,
  value: number | undefined,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new InvalidArgumentError(
      name,
      `must be a whole number from 1 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

function oneOf<T extends string>(
  name: string,
  value: T | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    throw new InvalidArgumentError(
      name,
      `must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function atLeastTwo(connections: number): number {
  if (connections < 2) {
    throw new InvalidArgumentError(
      "maxConnections",
      "must be at least 2, so that a command's input and output can travel at the same time",
    );
  }
  return connections;
}

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options.host !== "string" || options.host.trim() === "") {
    throw new InvalidArgumentError("host", "must be a host name or IP address");
  }
  if (/[/\s@]/.test(options.host)) {
    throw new InvalidArgumentError(
      "host",
      "give only the host name or address, without scheme, path or user",
    );
  }
  parseUserName(options.user);
  let secret: Secret;
  if (options.password !== undefined && options.ntHash !== undefined) {
    throw new InvalidArgumentError("password", "give either password or ntHash, not both");
  } else if (options.ntHash !== undefined) {
    secret = concealSecret({ ntHash: options.ntHash });
  } else if (typeof options.password === "string") {
    secret = concealSecret({ password: options.password });
  } else {
    throw new InvalidArgumentError("password", "a password (or ntHash) is required");
  }
  const https = options.https ?? false;
  const port = positiveInteger(
    "port",
    options.port,
    https ? DEFAULTS.httpsPort : DEFAULTS.httpPort,
    65535,
  );
  const path = options.path ?? DEFAULTS.path;
  if (!path.startsWith("/")) throw new InvalidArgumentError("path", 'must start with "/"');
  const host =
    options.host.includes(":") && !options.host.startsWith("[")
      ? `[${options.host}]`
      : options.host;
  const endpoint = new URL(`${https ? "https" : "http"}://${host}:${port}${path}`);
  const auth = oneOf("auth", options.auth, ["negotiate", "ntlm", "basic"], DEFAULTS.auth);
  const encryption = oneOf(
    "encryption",
    options.encryption,
    ["auto", "always", "never"],
    DEFAULTS.encryption,
  );
  if ((options.caCert || options.certFingerprint || options.insecure) && !https) {
    throw new InvalidArgumentError(
      options.caCert ? "caCert" : options.certFingerprint ? "certFingerprint" : "insecure",
      "applies only with https: true",
    );
  }
  const maxEnvelopeSizeKb = positiveInteger(
    "maxEnvelopeSizeKb",
    options.maxEnvelopeSizeKb,
    DEFAULTS.maxEnvelopeSizeKb,
    65536,
  );
  if (maxEnvelopeSizeKb < 32)
    throw new InvalidArgumentError("maxEnvelopeSizeKb", "must be at least 32");
  const maxShells = positiveInteger("maxShells", options.maxShells, DEFAULTS.maxShells, 1000);
  return {
    transport: {
      endpoint,
      auth,
      user: options.user,
      secret,
      encryption,
      allowUnencrypted: options.allowUnencrypted ?? false,
      tls: {
        ca: options.caCert,
        certFingerprint: options.certFingerprint,
        insecure: options.insecure ?? false,
      },
      connectTimeoutMs: positiveInteger(
        "connectTimeout",
        options.connectTimeout,
        DEFAULTS.connectTimeoutMs,
        3_600_000,
      ),
      readyTimeoutMs:
        options.readyTimeout === 0
          ? 0
          : positiveInteger(
              "readyTimeout",
              options.readyTimeout,
              DEFAULTS.readyTimeoutMs,
              86_400_000,
            ),
      maxConnections: atLeastTwo(
        positiveInteger("maxConnections", options.maxConnections, maxShells + 1, 1000),
      ),
      maxResponseBytes: maxEnvelopeSizeKb * 1024 * 4 + 64 * 1024,
    },
    operationTimeoutSeconds: positiveInteger(
      "operationTimeout",
      options.operationTimeout,
      DEFAULTS.operationTimeoutSeconds,
      3600,
    ),
    maxEnvelopeSize: maxEnvelopeSizeKb * 1024,
    maxShells,
    scripts: oneOf("scripts", options.scripts, ["auto", "powershell", "posix"], "auto"),
    locale: options.locale ?? DEFAULTS.locale,
  };
}
