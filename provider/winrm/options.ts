/**
 * Client options, validated with an InvalidArgumentError that names the option as the caller
 * spelled it. Names, ranges and defaults come from the one declaration, connection-options.ts.
 */
import { concealSecret, parseUserName, type Secret } from "../auth/credentials";
import { InvalidArgumentError } from "../errors";
import { clientRange, connectionOption } from "./connection-options";
import type { AuthMethod, EncryptionMode, KerberosOptions, TransportOptions } from "./http/options";
import { parseKdcAddress } from "../auth/kerberos/kdc-address";
import type { WaitProgress } from "./http/host-wait";

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
  /** Kerberos: the realm of a user written DOMAIN\user or bare. */
  realm?: string;
  /** Kerberos: KDC addresses, comma-separated ("host", "host:port", "tcp/host:port"). */
  kdc?: string;
  /** Kerberos: the host's service principal. Default HTTP/<host>. */
  spn?: string;
  /** Kerberos: a keytab file with the user's keys, instead of a password. */
  keytab?: string;
  /** Kerberos: a FILE: credential cache. Default KRB5CCNAME, then /tmp/krb5cc_<uid>. */
  ccache?: string;
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
  /** TCP and TLS connect timeout, milliseconds. Default 15000. */
  connectTimeoutMs?: number;
  /** How long to wait for a host that is still booting, milliseconds. Default 30000. */
  readyTimeoutMs?: number;
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
  /**
   * Called while the client waits for a host that does not answer yet (within
   * readyTimeoutMs): once when the wait begins, then at least every 10 s, with the host, what
   * the last attempt met and how long of how long.
   */
  onWaiting?: (progress: WaitProgress) => void;
}

export interface ResolvedClientOptions {
  transport: TransportOptions;
  operationTimeoutSeconds: number;
  maxEnvelopeSize: number;
  maxShells: number;
  scripts: ScriptFamilyChoice;
  locale: string;
}

/** The client's defaults, read from the one declaration (connection-options.ts). */
export const DEFAULTS = Object.freeze({
  httpPort: 5985,
  httpsPort: 5986,
  path: clientDefault<string>("path"),
  auth: clientDefault<AuthMethod>("auth"),
  encryption: clientDefault<EncryptionMode>("encryption"),
  operationTimeoutSeconds: clientDefault<number>("operationTimeout"),
  connectTimeoutMs: clientDefault<number>("connectTimeoutMs"),
  readyTimeoutMs: clientDefault<number>("readyTimeoutMs"),
  maxEnvelopeSizeKb: clientDefault<number>("maxEnvelopeSizeKb"),
  maxShells: clientDefault<number>("maxShells"),
  locale: clientDefault<string>("locale"),
});

function clientDefault<T>(name: string): T {
  return connectionOption(name).defaults?.client as T;
}

/** Options renamed when times got their unit in their name; passing one says what to change. */
const RENAMED: Readonly<Record<string, string>> = Object.freeze({
  readyTimeout: "readyTimeoutMs (milliseconds)",
  connectTimeout: "connectTimeoutMs (milliseconds)",
});

/** A whole number within the option's range on the client, or its default when absent. */
function wholeNumber(name: string, value: number | undefined, fallback?: number): number {
  const option = connectionOption(name);
  const [min, max] = clientRange(option);
  if (value === undefined) {
    const given = fallback ?? option.defaults?.client;
    if (typeof given !== "number") throw new InvalidArgumentError(name, "is required");
    return given;
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      name,
      `must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

function oneOf<T extends string>(name: string, value: T | undefined): T {
  const option = connectionOption(name);
  const allowed = option.values ?? [];
  if (value === undefined) return option.defaults?.client as T;
  if (!allowed.includes(value)) {
    throw new InvalidArgumentError(
      name,
      `must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The Kerberos options given, checked; undefined when none is. */
function kerberosOptions(options: ClientOptions): KerberosOptions | undefined {
  const result: KerberosOptions = {};
  for (const name of ["realm", "spn", "keytab", "ccache"] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.trim() === "") {
      throw new InvalidArgumentError(name, "must be a non-empty string");
    }
    result[name] = value.trim();
  }
  if (options.kdc !== undefined) {
    const kdcs = String(options.kdc)
      .split(",")
      .map((text) => text.trim())
      .filter((text) => text !== "");
    if (kdcs.length === 0) throw new InvalidArgumentError("kdc", "names no KDC");
    for (const text of kdcs) parseKdcAddress(text);
    result.kdc = kdcs;
  }
  if (result.spn !== undefined && !/^[^/\s]+\/[^/\s]+/.test(result.spn)) {
    throw new InvalidArgumentError(
      "spn",
      'must be written service/host, such as "HTTP/web01.example.com"',
    );
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  for (const [old, now] of Object.entries(RENAMED)) {
    if (old in options) throw new InvalidArgumentError(old, `is now ${now}`);
  }
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
  const auth = oneOf("auth", options.auth);
  let secret: Secret | undefined;
  if (options.password !== undefined && options.ntHash !== undefined) {
    throw new InvalidArgumentError("password", "give either password or ntHash, not both");
  } else if (options.ntHash !== undefined) {
    secret = concealSecret({ ntHash: options.ntHash });
  } else if (typeof options.password === "string") {
    secret = concealSecret({ password: options.password });
  } else if (auth !== "kerberos") {
    throw new InvalidArgumentError(
      "password",
      'a password (or ntHash) is required; with auth: "kerberos" a keytab, or the credential ' +
        "cache kinit writes, serves instead",
    );
  }
  const kerberos = kerberosOptions(options);
  const https = options.https ?? false;
  const port = wholeNumber("port", options.port, https ? DEFAULTS.httpsPort : DEFAULTS.httpPort);
  const path = options.path ?? DEFAULTS.path;
  if (!path.startsWith("/")) throw new InvalidArgumentError("path", 'must start with "/"');
  const host =
    options.host.includes(":") && !options.host.startsWith("[")
      ? `[${options.host}]`
      : options.host;
  const endpoint = new URL(`${https ? "https" : "http"}://${host}:${port}${path}`);
  const encryption = oneOf("encryption", options.encryption);
  if ((options.caCert || options.certFingerprint || options.insecure) && !https) {
    throw new InvalidArgumentError(
      options.caCert ? "caCert" : options.certFingerprint ? "certFingerprint" : "insecure",
      "applies only with https: true",
    );
  }
  const maxEnvelopeSizeKb = wholeNumber("maxEnvelopeSizeKb", options.maxEnvelopeSizeKb);
  const maxShells = wholeNumber("maxShells", options.maxShells);
  if (options.maxConnections !== undefined && options.maxConnections < 2) {
    throw new InvalidArgumentError(
      "maxConnections",
      "must be at least 2, so that a command's input and output can travel at the same time",
    );
  }
  return {
    transport: {
      endpoint,
      auth,
      user: options.user,
      secret,
      ...(kerberos === undefined ? {} : { kerberos }),
      encryption,
      allowUnencrypted: options.allowUnencrypted ?? false,
      tls: {
        ca: options.caCert,
        certFingerprint: options.certFingerprint,
        insecure: options.insecure ?? false,
      },
      connectTimeoutMs: wholeNumber("connectTimeoutMs", options.connectTimeoutMs),
      readyTimeoutMs: wholeNumber("readyTimeoutMs", options.readyTimeoutMs),
      maxConnections: wholeNumber("maxConnections", options.maxConnections, maxShells + 1),
      maxResponseBytes: maxEnvelopeSizeKb * 1024 * 4 + 64 * 1024,
      onWaiting: options.onWaiting,
    },
    operationTimeoutSeconds: wholeNumber("operationTimeout", options.operationTimeout),
    maxEnvelopeSize: maxEnvelopeSizeKb * 1024,
    maxShells,
    scripts: oneOf("scripts", options.scripts),
    locale: options.locale ?? DEFAULTS.locale,
  };
}
