/**
 * Every connection option, declared once: its name on each surface that takes it (the
 * resources' `connection`, WinRMClient, the command-line tool), its type and unit, its range,
 * its default and one line of help. The resources' check, their mapping to client options,
 * the client's own validation, the CLI's flags and --help, and a test of the README's option
 * table all read this table, so an option cannot drift between them.
 *
 * Units: the resources and the CLI take times in seconds; WinRMClient takes milliseconds and
 * says so in the name (readyTimeoutMs, connectTimeoutMs), except operationTimeout, which is
 * WS-Management's own OperationTimeout in seconds everywhere.
 */

/** Where an option is taken: R the resources, C WinRMClient, L the command-line tool. */
export type Surface = "R" | "C" | "L";

export type OptionKind = "string" | "boolean" | "integer" | "enum";

export interface ConnectionOption {
  /** The name on the resources' connection (and on the client unless clientName says). */
  readonly name: string;
  /** The name on WinRMClient when it differs (a time in milliseconds ends in Ms). */
  readonly clientName?: string;
  readonly kind: OptionKind;
  /** An enum's values, in the order messages list them. */
  readonly values?: readonly string[];
  /** A whole number's range, in the option's own unit. */
  readonly min?: number;
  readonly max?: number;
  /** "seconds" or "milliseconds" where the value is a time, on the resource and client. */
  readonly unit?: { readonly resource?: "s"; readonly client?: "ms" | "s" };
  readonly surfaces: readonly Surface[];
  /** Defaults in the option's unit on each surface; absent: none, or computed (defaultText). */
  readonly defaults?: { readonly resource?: unknown; readonly client?: unknown };
  /** The default as the README and --help write it. */
  readonly defaultText: string;
  /** The CLI flag (without --), its one-letter alias and the name of its argument. */
  readonly flag?: { readonly name: string; readonly short?: string; readonly argument?: string };
  /** One line for --help and the README table. */
  readonly help: string;
}

export const CONNECTION_OPTIONS: readonly ConnectionOption[] = Object.freeze([
  {
    name: "host",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "(required)",
    flag: { name: "host", short: "H", argument: "HOST" },
    help: "host name or address",
  },
  {
    name: "port",
    kind: "integer",
    min: 1,
    max: 65535,
    surfaces: ["R", "C", "L"],
    defaultText: "5985, or 5986 with `https`",
    flag: { name: "port", short: "p", argument: "PORT" },
    help: "the listener's port",
  },
  {
    name: "user",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "(required)",
    flag: { name: "user", short: "u", argument: "USER" },
    help: "`DOMAIN\\user`, `user@domain` (UPN) or a local `user`",
  },
  {
    name: "password",
    kind: "string",
    surfaces: ["R", "C"],
    defaultText: "(required, except with `kerberos`)",
    help: "pass it as a secret; the CLI reads WINRM_PASSWORD or prompts; with `kerberos` a keytab or `kinit`'s cache may serve instead",
  },
  {
    name: "ntHash",
    kind: "string",
    surfaces: ["C"],
    defaultText: "",
    help: "the account's NT hash (32 hex digits) instead of the password",
  },
  {
    name: "auth",
    kind: "enum",
    values: ["negotiate", "kerberos", "ntlm", "basic"],
    surfaces: ["R", "C", "L"],
    defaults: { resource: "negotiate", client: "negotiate" },
    defaultText: "`negotiate`",
    flag: { name: "auth", argument: "METHOD" },
    help: "`negotiate` (SPNEGO: Kerberos where configured, else NTLM), `kerberos` (never NTLM), `ntlm` (raw NTLM), or `basic`",
  },
  {
    name: "realm",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "from `user@REALM`, else krb5.conf's default_realm",
    flag: { name: "realm", argument: "REALM" },
    help: "Kerberos: the realm of a user written `DOMAIN\\user` or bare",
  },
  {
    name: "kdc",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "krb5.conf's [realms], else DNS SRV records",
    flag: { name: "kdc", argument: "HOST[:PORT],..." },
    help: "Kerberos: the realm's KDCs, comma-separated; `tcp/` or `udp/` in front forces a transport",
  },
  {
    name: "spn",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "`HTTP/<host>`",
    flag: { name: "spn", argument: "SPN" },
    help: "Kerberos: the host's service principal, for aliases and load balancers",
  },
  {
    name: "keytab",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "",
    flag: { name: "keytab", argument: "FILE" },
    help: "Kerberos: a keytab file holding the user's keys, instead of a password",
  },
  {
    name: "ccache",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "`KRB5CCNAME`, else `/tmp/krb5cc_<uid>`",
    flag: { name: "ccache", argument: "FILE" },
    help: "Kerberos: the credential cache `kinit` wrote, used when no password or keytab is given",
  },
  {
    name: "allowUnencrypted",
    kind: "boolean",
    surfaces: ["R", "C", "L"],
    defaults: { resource: false, client: false },
    defaultText: "`false`",
    flag: { name: "allow-unencrypted" },
    help: "must be set by name before Basic or unencrypted messages go over plain HTTP",
  },
  {
    name: "https",
    kind: "boolean",
    surfaces: ["R", "C", "L"],
    defaults: { resource: false, client: false },
    defaultText: "`false`",
    flag: { name: "https" },
    help: "use HTTPS",
  },
  {
    name: "caCert",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "Node's roots plus the system store",
    flag: { name: "ca-cert", argument: "FILE" },
    help: "HTTPS only: PEM text of the CA that signed the host's certificate (the CLI's `--ca-cert` takes a file)",
  },
  {
    name: "certFingerprint",
    kind: "string",
    surfaces: ["R", "C", "L"],
    defaultText: "",
    flag: { name: "cert-fingerprint", argument: "HEX" },
    help: "HTTPS only: trust exactly the certificate with this SHA-256 fingerprint",
  },
  {
    name: "insecure",
    kind: "boolean",
    surfaces: ["R", "C", "L"],
    defaults: { resource: false, client: false },
    defaultText: "`false`",
    flag: { name: "insecure" },
    help: "HTTPS only: skip certificate verification (prefer the two above)",
  },
  {
    name: "operationTimeout",
    kind: "integer",
    min: 1,
    max: 3600,
    unit: { resource: "s", client: "s" },
    surfaces: ["R", "C", "L"],
    defaults: { resource: 20, client: 20 },
    defaultText: "20 s",
    flag: { name: "operation-timeout", argument: "SEC" },
    help: "WS-Management OperationTimeout; the HTTP read timeout stays above it",
  },
  {
    name: "readyTimeout",
    clientName: "readyTimeoutMs",
    kind: "integer",
    min: 0,
    max: 86_400,
    unit: { resource: "s", client: "ms" },
    surfaces: ["R", "C", "L"],
    defaults: { resource: 300, client: 30_000 },
    defaultText: "resources: 300 s; `WinRMClient` (`readyTimeoutMs`) and the CLI: 30 s",
    flag: { name: "ready-timeout", argument: "SEC" },
    help: "how long to keep retrying a host that is still booting; 0 tries once",
  },
  {
    name: "maxConcurrency",
    kind: "integer",
    min: 1,
    max: 1000,
    surfaces: ["R"],
    defaults: { resource: 10 },
    defaultText: "10",
    help: "operations in flight per host across the whole stack (the shells the shared client keeps; a command running a while gets a connection of its own, up to this many plus one)",
  },
  {
    name: "encryption",
    kind: "enum",
    values: ["auto", "always", "never"],
    surfaces: ["C"],
    defaults: { client: "auto" },
    defaultText: "`auto`",
    help: "`auto`: sealed over HTTP, TLS alone over HTTPS; `always`; `never` (needs `allowUnencrypted` over HTTP)",
  },
  {
    name: "maxShells",
    kind: "integer",
    min: 1,
    max: 1000,
    surfaces: ["C"],
    defaults: { client: 5 },
    defaultText: "5",
    help: "shells, and so commands in parallel, per client; callers beyond it queue",
  },
  {
    name: "maxConnections",
    kind: "integer",
    min: 2,
    max: 1000,
    surfaces: ["C"],
    defaultText: "`maxShells` + 1",
    help: "authenticated connections at most (at least 2); one is kept and others open only while stdin is sent or a request has waited",
  },
  {
    name: "maxEnvelopeSizeKb",
    kind: "integer",
    min: 32,
    max: 65536,
    surfaces: ["C"],
    defaults: { client: 500 },
    defaultText: "500",
    help: "the host's MaxEnvelopeSizekb (150 on Windows Server 2008 R2)",
  },
  {
    name: "connectTimeoutMs",
    kind: "integer",
    min: 1,
    max: 3_600_000,
    unit: { client: "ms" },
    surfaces: ["C"],
    defaults: { client: 15_000 },
    defaultText: "15000 ms",
    help: "TCP and TLS connect timeout",
  },
  {
    name: "path",
    kind: "string",
    surfaces: ["C"],
    defaults: { client: "/wsman" },
    defaultText: "`/wsman`",
    help: "the WS-Management endpoint path",
  },
  {
    name: "scripts",
    kind: "enum",
    values: ["auto", "powershell", "posix"],
    surfaces: ["R", "C", "L"],
    defaults: { resource: "auto", client: "auto" },
    defaultText: "`auto`",
    flag: { name: "scripts", argument: "FAMILY" },
    help: "which remote scripts file operations use: `powershell`, `posix`, or `auto` (from Identify); pin it so that nothing the host or the network says can change it",
  },
  {
    name: "locale",
    kind: "string",
    surfaces: ["C"],
    defaults: { client: "en-US" },
    defaultText: "`en-US`",
    help: "the locale asked for in fault messages",
  },
] satisfies ConnectionOption[]);

/** The option called `name` on the resources or the client; throws for a name not declared. */
export function connectionOption(name: string): ConnectionOption {
  const option = CONNECTION_OPTIONS.find((item) => item.name === name || item.clientName === name);
  if (option === undefined) throw new Error(`no connection option is called ${name}`);
  return option;
}

/** The options a surface takes. */
export function optionsOf(surface: Surface): ConnectionOption[] {
  return CONNECTION_OPTIONS.filter((option) => option.surfaces.includes(surface));
}

/** An option's default on a surface, as a number (for integer options with one). */
export function numericDefault(name: string, surface: "resource" | "client"): number {
  const value = connectionOption(name).defaults?.[surface];
  if (typeof value !== "number") throw new Error(`${name} has no numeric ${surface} default`);
  return value;
}

/** `"a", "b" or "c"` for messages. */
export function listValues(values: readonly string[]): string {
  const quoted = values.map((value) => JSON.stringify(value));
  return quoted.length < 2
    ? quoted.join("")
    : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/**
 * An integer option's range on the client. min and max are in the resource's unit; where the
 * resource takes seconds and the client milliseconds, the client's range is 1000 times that.
 */
export function clientRange(option: ConnectionOption): [number, number] {
  const min = option.min ?? Number.MIN_SAFE_INTEGER;
  const max = option.max ?? Number.MAX_SAFE_INTEGER;
  const scale = option.unit?.resource === "s" && option.unit.client === "ms" ? 1000 : 1;
  return [min * scale, max * scale];
}
