/**
 * The `connection` input shared by RemoteCommand and RemoteFile: its validation (as check
 * failures that `pulumi preview` shows before anything runs), its defaults, and the pool of
 * clients that every resource of the provider process shares.
 *
 * One provider process serves every dynamic resource of a stack on one event loop, and the
 * engine runs operations in parallel; the pool therefore lives on globalThis (the serialized
 * provider may be loaded more than once), keyed by endpoint and identity, with at most
 * `maxConcurrency` operations in flight per host.
 */
import { createHash } from "node:crypto";
import { parseUserName } from "./auth/credentials";
import { HostUnreachableError, WinRMError } from "./errors";
import { describeWait, type WaitProgress } from "./winrm/http/host-wait";
import type { WinRMClient } from "./winrm/client";
import { WaitQueue } from "./winrm/wait-queue";
import {
  type ConnectionOption,
  listValues,
  numericDefault,
  optionsOf,
} from "./winrm/connection-options";
import { type ClientOptions, resolveClientOptions } from "./winrm/options";

/** The connection as users write it (named as pulumi-command names its SSH connection). */
export interface ConnectionArgs {
  host: string;
  port?: number;
  user: string;
  password?: string;
  auth?: "negotiate" | "kerberos" | "ntlm" | "basic";
  realm?: string;
  kdc?: string;
  spn?: string;
  keytab?: string;
  ccache?: string;
  https?: boolean;
  insecure?: boolean;
  caCert?: string;
  certFingerprint?: string;
  allowUnencrypted?: boolean;
  /** WS-Man OperationTimeout, seconds. */
  operationTimeout?: number;
  /** How long to wait for a host that is still booting, seconds. */
  readyTimeout?: number;
  /** Operations in flight at once against this host. */
  maxConcurrency?: number;
  /** The family of remote scripts: "auto" (from Identify, the default), "powershell" or "posix". */
  scripts?: "auto" | "powershell" | "posix";
}

export interface CheckFailure {
  property: string;
  reason: string;
}

/** The resources' defaults that differ from the client's (connection-options.ts). */
const CONNECTION_DEFAULTS = Object.freeze({
  readyTimeoutSeconds: numericDefault("readyTimeout", "resource"),
  maxConcurrency: numericDefault("maxConcurrency", "resource"),
});

/** The engine's placeholder for a value not known during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function isUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(isUnknown);
  if (value !== null && typeof value === "object") return Object.values(value).some(isUnknown);
  return false;
}

/** Validates a connection; unknown values (during preview) are accepted as they are. */
export function checkConnection(value: unknown, property = "connection"): CheckFailure[] {
  if (value === UNKNOWN) return [];
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [{ property, reason: "must be an object with at least host, user and password" }];
  }
  const connection = value as Record<string, unknown>;
  const failures: CheckFailure[] = [];
  const fail = (name: string, reason: string) =>
    failures.push({ property: `${property}.${name}`, reason });
  const known = (name: string) => connection[name] !== undefined && !isUnknown(connection[name]);
  const allowed = new Set(optionsOf("R").map((option) => option.name));
  for (const name of Object.keys(connection)) {
    if (!allowed.has(name))
      fail(name, `is not a connection option (known: ${[...allowed].join(", ")})`);
  }
  if (
    !isUnknown(connection.host) &&
    (typeof connection.host !== "string" || connection.host.trim() === "")
  ) {
    fail("host", "must be a non-empty host name or address");
  }
  if (!isUnknown(connection.user)) {
    if (typeof connection.user !== "string" || connection.user === "") fail("user", "is required");
    else {
      try {
        parseUserName(connection.user);
      } catch (error) {
        fail("user", (error as Error).message);
      }
    }
  }
  const passwordOptional = connection.auth === "kerberos";
  if (
    !isUnknown(connection.password) &&
    typeof connection.password !== "string" &&
    !(passwordOptional && connection.password === undefined)
  ) {
    fail(
      "password",
      "is required (pass it as a secret: pulumi.secret(...) or a secret config value)",
    );
  }
  for (const option of optionsOf("R")) {
    if (known(option.name)) {
      const reason = kindProblem(option, connection[option.name]);
      if (reason !== undefined) fail(option.name, reason);
    }
  }
  const https = connection.https === true;
  if (
    connection.auth === "basic" &&
    connection.https !== true &&
    connection.allowUnencrypted !== true &&
    !isUnknown(connection.https)
  ) {
    fail(
      "auth",
      'Basic over plain HTTP sends the password in the clear: set https: true, use "negotiate" (the ' +
        "default, which encrypts every message), or set allowUnencrypted: true to accept the risk",
    );
  }
  for (const name of ["caCert", "certFingerprint", "insecure"]) {
    if (
      connection[name] !== undefined &&
      connection[name] !== false &&
      !https &&
      !isUnknown(connection.https)
    ) {
      fail(name, "applies only with https: true");
    }
  }
  if (failures.length === 0 && !isUnknown(connection)) {
    try {
      resolveClientOptions(toClientOptions(connection as unknown as ConnectionArgs));
    } catch (error) {
      const option = (error as { option?: string }).option;
      fail(option ?? "host", error instanceof WinRMError ? error.message : String(error));
    }
  }
  return failures;
}

/**
 * What a value of the wrong type or out of range is told; undefined when it is fine. Host,
 * user and password have rules of their own above.
 */
function kindProblem(option: ConnectionOption, value: unknown): string | undefined {
  const got = JSON.stringify(value);
  switch (option.kind) {
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be true or false";
    case "enum":
      return (option.values ?? []).includes(value as string)
        ? undefined
        : `must be ${listValues(option.values ?? [])}, got ${got}`;
    case "integer": {
      const min = option.min ?? 1;
      const whole = typeof value === "number" && Number.isInteger(value);
      if (whole && value >= min && (option.max === undefined || value <= option.max)) {
        return undefined;
      }
      const what = option.unit?.resource === "s" ? "whole number of seconds" : "whole number";
      return `must be a ${what} from ${min} to ${option.max ?? "any"}, got ${got}`;
    }
    case "string":
      return undefined;
  }
}

/**
 * The client options for a resource's connection: each option both take, under the client's
 * name and in its unit (seconds become milliseconds), with the resources' own defaults;
 * maxConcurrency becomes the client's maxShells.
 */
export function toClientOptions(connection: ConnectionArgs): ClientOptions {
  const values = connection as unknown as Record<string, unknown>;
  const client: Record<string, unknown> = {};
  for (const option of optionsOf("R")) {
    const value = values[option.name] ?? option.defaults?.resource;
    if (!option.surfaces.includes("C") || value === undefined) continue;
    const toMs = option.unit?.resource === "s" && option.unit.client === "ms";
    client[option.clientName ?? option.name] = toMs ? (value as number) * 1000 : value;
  }
  // Every resource of a stack shares one client. Its transport keeps one authenticated
  // connection while requests pass quickly, and opens another when a running command's
  // Receive holds one while others wait, while stdin is sent (so input and output can travel
  // at once) or when a request has waited too long (http/pool.ts); the client's default cap,
  // one more than its shells, leaves a connection for Receives even when every Send is held.
  client.maxShells = connection.maxConcurrency ?? CONNECTION_DEFAULTS.maxConcurrency;
  return client as unknown as ClientOptions;
}

/**
 * A wait for a booting host in the Pulumi output: the provider's stderr reaches the engine's
 * diagnostics, as the upload progress does.
 */
function reportWait(progress: WaitProgress): void {
  process.stderr.write(`${describeWait(progress, { option: "readyTimeout", unit: "s" })}\n`);
}

/**
 * The client's module, loaded when a resource first needs a connection. A provider process
 * that only checks and diffs (a preview, an `up` that changes nothing) never does, and loading
 * the client (undici, the XML parser, the authentication stack) is about a tenth of such a
 * process's CPU time.
 */
function newClient(...args: ConstructorParameters<typeof WinRMClient>): WinRMClient {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { WinRMClient: Client } = require("./winrm/client") as typeof import("./winrm/client");
  return new Client(...args);
}

interface PoolEntry {
  client: WinRMClient;
  /** Operations in flight and waiting, for the per-host cap. */
  active: number;
  waiters: WaitQueue;
  limit: number;
}

const POOL_KEY = Symbol.for("pulumi-winrm.connection-pool");
const SHUTDOWN_KEY = Symbol.for("pulumi-winrm.shutdown-hook");
/** How long closing the pool at shutdown may take before the process exits regardless. */
const SHUTDOWN_GRACE_MS = 2000;

function pool(): Map<string, PoolEntry> {
  const holder = globalThis as unknown as Record<symbol, Map<string, PoolEntry> | undefined>;
  return (holder[POOL_KEY] ??= new Map<string, PoolEntry>());
}

/**
 * The engine ends a provider process with SIGINT (and waits for it to exit) once the
 * operation is over. Left to the default, the process dies with its pooled shells still open
 * on the host, which keeps them until its IdleTimeout (two hours on Windows) and counts them
 * against MaxShellsPerUser (30): a few runs later every new shell is refused. So on SIGINT or
 * SIGTERM the pool deletes its shells and closes its connections, then the process exits.
 */
function closePoolOnShutdown(): void {
  const holder = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (holder[SHUTDOWN_KEY]) return;
  holder[SHUTDOWN_KEY] = true;
  const shutdown = (signal: NodeJS.Signals) => {
    const clients = [...pool().values()].map((entry) => entry.client);
    pool().clear();
    const code = 128 + (signal === "SIGINT" ? 2 : 15);
    setTimeout(() => process.exit(code), SHUTDOWN_GRACE_MS).unref();
    void Promise.allSettled(clients.map((client) => client.close())).then(() => process.exit(code));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

/**
 * Identifies a client: the endpoint, the user, and a hash of everything else that changes how
 * it connects (so a new password or trust setting gets its own client). The hash keeps the
 * password out of the key itself.
 */
function poolKey(connection: ConnectionArgs): string {
  const fingerprint = createHash("sha256")
    .update(JSON.stringify(toClientOptions(connection)))
    .digest("hex");
  return `${endpointOf(connection)} ${connection.user} ${fingerprint}`;
}

/** Where a connection leads, written one way: lowercase host, the default port filled in. */
function endpointOf(connection: ConnectionArgs): string {
  const scheme = connection.https ? "https" : "http";
  const port = connection.port ?? (connection.https ? 5986 : 5985);
  return `${scheme}://${connection.host.toLowerCase()}:${port}`;
}

/**
 * Runs `work` with the shared client for this connection, holding one of the host's
 * `maxConcurrency` operation slots for its duration.
 */
export async function withClient<T>(
  connection: ConnectionArgs,
  work: (client: WinRMClient) => Promise<T>,
): Promise<T> {
  closePoolOnShutdown();
  const key = poolKey(connection);
  let held: PoolEntry;
  // The entry may leave the pool while this call waits for a slot (its host restarted:
  // dropHost): then the call takes a place in the new entry.
  for (;;) {
    held = poolEntry(key, connection);
    while (held.active >= held.limit && pool().get(key) === held) await held.waiters.wait();
    if (pool().get(key) === held) break;
  }
  held.active++;
  try {
    return await work(held.client);
  } catch (error) {
    // The client names its own option (readyTimeoutMs, milliseconds); a resource's user set
    // readyTimeout in seconds.
    if (error instanceof HostUnreachableError) {
      throw error.restated({ option: "readyTimeout", unit: "s" });
    }
    throw error;
  } finally {
    held.active--;
    held.waiters.wakeOne();
  }
}

/** The pool's entry for `key`, created for `connection` when there is none. */
function poolEntry(key: string, connection: ConnectionArgs): PoolEntry {
  let entry = pool().get(key);
  if (!entry) {
    entry = {
      // Shared: resources come and go, so a quiet command's Receive asks the host to answer
      // within a second rather than hold its connection for the whole OperationTimeout.
      client: newClient(
        { ...toClientOptions(connection), onWaiting: reportWait },
        { shared: true },
      ),
      active: 0,
      waiters: new WaitQueue(),
      limit: connection.maxConcurrency ?? CONNECTION_DEFAULTS.maxConcurrency,
    };
    pool().set(key, entry);
  }
  return entry;
}

/**
 * The host of `connection` is restarting: every pooled client for it (any user, any
 * options) leaves the pool and is closed in the background, which deletes its shells while
 * the host still answers. The next resource for that host gets a new client, a new connection
 * and new shells, as it must: the host forgets every shell in a restart.
 */
export function dropHost(connection: ConnectionArgs): void {
  const prefix = `${endpointOf(connection)} `;
  for (const [key, entry] of pool()) {
    if (!key.startsWith(prefix)) continue;
    pool().delete(key);
    // Calls waiting for a slot move to the next entry for the host.
    entry.waiters.wakeAll();
    void entry.client.close().catch(() => undefined);
  }
}

/**
 * A client outside the pool for `connection`, which waits up to `readyTimeoutMs` for a host
 * that refuses connections and reports the wait through `onWaiting`: for waits of their own,
 * such as a restart's.
 */
export function dedicatedClient(
  connection: ConnectionArgs,
  readyTimeoutMs: number,
  onWaiting: (progress: WaitProgress) => void,
): WinRMClient {
  return newClient({ ...toClientOptions(connection), readyTimeoutMs, onWaiting });
}
