/**
 * A throwaway MIT Kerberos realm on loopback, for tests that need a real KDC: its own database,
 * users and services, a krb5kdc in the foreground, and a krb5.conf that points clients at it.
 *
 * Everything lives in one fresh temporary folder (configuration, database and stash, keytabs,
 * credential caches, replay caches, logs); stop() ends the KDC and removes the folder, and so
 * does process exit for a realm a test forgot to stop. Nothing is written elsewhere: the tools
 * run with KRB5_CONFIG and KRB5_KDC_PROFILE set to the folder's files, and `env` gives clients
 * defaults (credential cache, keytab, replay cache) inside it too.
 *
 * The tools come from Debian's krb5-kdc, krb5-admin-server and krb5-user (test/setup/system.sh);
 * mitKdcAvailability() says whether they are here.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";

/** The enctypes a realm principal can be given keys of. */
export type KerberosEnctype =
  | "aes256-cts-hmac-sha1-96"
  | "aes128-cts-hmac-sha1-96"
  | "arcfour-hmac"
  | "aes256-cts-hmac-sha384-192"
  | "aes128-cts-hmac-sha256-128";

/** RFC 3961 / IANA numbers, as on the wire and in gss_krb5_set_allowable_enctypes. */
export const ENCTYPE_NUMBERS: Readonly<Record<KerberosEnctype, number>> = {
  "aes256-cts-hmac-sha1-96": 18,
  "aes128-cts-hmac-sha1-96": 17,
  "arcfour-hmac": 23,
  "aes256-cts-hmac-sha384-192": 20,
  "aes128-cts-hmac-sha256-128": 19,
};

/** The realm's supported_enctypes unless options say otherwise: what Active Directory offers. */
export const DEFAULT_ENCTYPES: readonly KerberosEnctype[] = [
  "aes256-cts-hmac-sha1-96",
  "aes128-cts-hmac-sha1-96",
  "arcfour-hmac",
];

export interface RealmUser {
  /** "alice" or "alice@REALM". */
  name: string;
  /** Fed to kadmin.local on stdin, never in argv; so it must not contain a line break. */
  password: string;
  /** Long-term keys of only these enctypes (default: the realm's supported_enctypes). */
  enctypes?: KerberosEnctype[];
  /** Default true: the first AS-REQ without PA-ENC-TIMESTAMP gets KDC_ERR_PREAUTH_REQUIRED. */
  requiresPreauth?: boolean;
}

export interface RealmService {
  /** "HTTP/host.winrm.test" or with "@REALM". */
  name: string;
  /** Long-term keys of only these enctypes (default: the realm's supported_enctypes). */
  enctypes?: KerberosEnctype[];
  /**
   * The service's session_enctypes string attribute: which session keys the KDC may issue in
   * its tickets. Default: `enctypes` when given. Without it MIT's KDC assumes every service
   * handles aes256-cts-hmac-sha1-96 session keys, so an rc4-only service would still get aes256
   * session keys.
   */
  sessionEnctypes?: KerberosEnctype[];
}

export interface MitRealmOptions {
  /** Default "WINRM.TEST". */
  realm?: string;
  users?: RealmUser[];
  /** Each gets a random key and its own keytab (handle.keytab(name)). */
  services?: (string | RealmService)[];
  /** The realm's supported_enctypes (default DEFAULT_ENCTYPES); also krbtgt's keys. */
  supportedEnctypes?: KerberosEnctype[];
  /** How long krb5kdc may take to answer. Default 20 s. */
  startTimeoutMs?: number;
  /**
   * kdc_max_dgram_reply_size: replies larger than this over UDP are refused with
   * KRB_ERR_RESPONSE_TOO_BIG, so the client must retry over TCP. Default MIT's (4096).
   */
  maxDatagramReplyBytes?: number;
}

/** What a started realm offers; see startMitRealm. */
export interface MitRealm {
  readonly realm: string;
  readonly host: "127.0.0.1";
  /** The KDC's TCP port. The same number as udpPort: the KDC listens on both, as on port 88. */
  readonly tcpPort: number;
  readonly udpPort: number;
  /** The krb5kdc process (undefined once stopped). */
  readonly kdcPid: number | undefined;
  /** The temporary folder that holds everything; gone after stop(). */
  readonly dir: string;
  /** The clients' krb5.conf: default_realm, the KDC at 127.0.0.1:<port>, no DNS, no rdns. */
  readonly krb5ConfPath: string;
  /** The KDC's kdc.conf (database, ports, enctypes, logs). */
  readonly kdcConfPath: string;
  /**
   * Environment for client processes: KRB5_CONFIG, KRB5RCACHEDIR, and default KRB5CCNAME and
   * KRB5_KTNAME (the keytab that holds every service) inside dir, so that nothing falls back to
   * /tmp/krb5cc_<uid>, /etc/krb5.keytab or /var/tmp.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Path of the keytab that holds just this service ("HTTP/host.winrm.test", realm optional). */
  keytab(service: string): string;
  /** "name@REALM" unless name already has a realm. */
  principal(name: string): string;
  /** Runs MIT kinit (password on stdin); resolves to "FILE:<ccache path>". */
  kinit(user: string, password: string, ccachePath?: string): Promise<string>;
  addUser(user: RealmUser): Promise<void>;
  /** Creates the service and its keytab; resolves to the keytab's path. */
  addService(service: string | RealmService): Promise<string>;
  /** New password (and so new keys, kvno + 1), of the user's enctypes unless given. */
  changePassword(user: string, password: string, enctypes?: KerberosEnctype[]): Promise<void>;
  /** Runs one kadmin.local query; resolves to its stdout, rejects when kadmin reports an error. */
  kadmin(query: string, stdin?: string): Promise<string>;
  /** The last bytes of the KDC's log and output. */
  logTail(bytes?: number): string;
  /** Ends the KDC and removes dir. Safe to call twice. */
  stop(): Promise<void>;
}

type Availability = { available: true } | { available: false; reason: string };

const TOOLS = ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"] as const;
type Tool = (typeof TOOLS)[number];
/** The KDC tools are in /usr/sbin, which a non-root PATH often lacks. */
const EXTRA_TOOL_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"];
const SETUP_HINT =
  "run `bash test/setup/system.sh` as root (installs krb5-kdc, krb5-admin-server, krb5-user)";
const DEFAULT_START_TIMEOUT_MS = 20_000;
const START_ATTEMPTS = 5;
const TOOL_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_BYTES = 16_384;

let cachedTools: Partial<Record<Tool, string>> | undefined;

function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), ...EXTRA_TOOL_DIRS];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next folder
    }
  }
  return undefined;
}

function tools(): Partial<Record<Tool, string>> {
  if (cachedTools === undefined) {
    cachedTools = {};
    for (const tool of TOOLS) {
      const found = findTool(tool);
      if (found !== undefined) cachedTools[tool] = found;
    }
  }
  return cachedTools;
}

function tool(name: Tool): string {
  const found = tools()[name];
  if (found === undefined) throw new Error(`MIT Kerberos: ${name} not found; ${SETUP_HINT}`);
  return found;
}

/** Whether MIT's KDC, kdb5_util, kadmin.local and kinit are installed. */
export function mitKdcAvailability(): Availability {
  const missing = TOOLS.filter((name) => tools()[name] === undefined);
  if (missing.length === 0) return { available: true };
  return {
    available: false,
    reason: `MIT Kerberos realm: ${missing.join(", ")} not found; ${SETUP_HINT}`,
  };
}

/**
 * For node:test: undefined when a realm can be started, else the reason to skip. Under CI (the
 * CI variable set) missing tools throw instead: CI must not pass by skipping.
 */
export function mitKdcSkipReason(): string | undefined {
  const availability = mitKdcAvailability();
  if (availability.available) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") {
    throw new Error(`${availability.reason} (CI is set, so a missing KDC is an error)`);
  }
  return availability.reason;
}

// ---- running the tools ----

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion with stdin fed (passwords go this way, not through argv). */
function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin: string,
  cwd: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), TOOL_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    // A tool that exits before reading its stdin must not turn into an unhandled EPIPE.
    child.stdin.on("error", () => {});
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.once("close", (status) => {
      clearTimeout(timer);
      resolve({
        status,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      });
    });
    child.stdin.end(stdin);
  });
}

/**
 * kadmin.local's exit status says nothing (a query that fails still exits 0), so its errors are
 * recognised by their text: "<request>: <message> while <doing>", "kadmin.local: ...", usage.
 */
const KADMIN_ERROR = /^(?:[a-z_]+: .* while |kadmin\.local: |usage: )/im;

function checkPassword(password: string): void {
  // The tools read a password as one line of stdin.
  if (/[\r\n]/.test(password)) throw new Error("a realm password cannot contain a line break");
}

function checkEnctypes(enctypes: readonly string[]): void {
  // kadmin.local silently replaces an unknown enctype by the defaults: refuse it here.
  for (const enctype of enctypes) {
    if (!(enctype in ENCTYPE_NUMBERS)) throw new Error(`unknown enctype ${enctype}`);
  }
  if (enctypes.length === 0) throw new Error("an empty enctype list");
}

/** The enctypes of a principal's keys, from getprinc's "Key: vno 1, DEPRECATED:arcfour-hmac". */
function keyEnctypes(getprinc: string): string[] {
  return [...getprinc.matchAll(/^Key: vno \d+, (?:[A-Z]+:)?(\S+)$/gm)].map((match) => match[1]!);
}

// ---- ports ----

/**
 * A port free on 127.0.0.1 for both TCP and UDP: the kernel picks a TCP one, and UDP must be
 * free on the same number (else try again), so the KDC sits on one number as on port 88.
 */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const server = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
    });
    const socket = dgram.createSocket("udp4");
    const udpFree = await new Promise<boolean>((resolve) => {
      socket.once("error", () => resolve(false));
      socket.bind(port, "127.0.0.1", () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (udpFree) return port;
  }
  throw new Error("no port free for both TCP and UDP on 127.0.0.1 after 50 tries");
}

/**
 * How many sockets hold `port` as a TCP listener and as a UDP socket, from /proc/net. krb5kdc
 * binds with SO_REUSEPORT, so a second KDC (another test file running at the same time) that
 * picked the same number would bind beside ours without any error and answer half our
 * requests; only counting the sockets shows it. Undefined where /proc/net is not readable.
 */
function socketsOnPort(port: number): { tcp: number; udp: number } | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const count = (file: string, state: string): number => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return -1;
    }
    let n = 0;
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      if (fields[1]!.endsWith(`:${hex}`) && fields[3] === state) n++;
    }
    return n;
  };
  // 0A: TCP_LISTEN; 07: TCP_CLOSE, the state /proc shows for every unconnected UDP socket.
  const counts = [
    count("/proc/net/tcp", "0A"),
    count("/proc/net/tcp6", "0A"),
    count("/proc/net/udp", "07"),
    count("/proc/net/udp6", "07"),
  ];
  if (counts[0]! < 0 || counts[2]! < 0) return undefined;
  const sum = (a: number, b: number) => Math.max(0, a) + Math.max(0, b);
  return { tcp: sum(counts[0]!, counts[1]!), udp: sum(counts[2]!, counts[3]!) };
}

function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- configuration files ----

function krb5Conf(realm: string, port: number): string {
  return [
    "[libdefaults]",
    `  default_realm = ${realm}`,
    "  dns_lookup_kdc = false",
    "  dns_lookup_realm = false",
    // Host-based names (HTTP@host.winrm.test) stay as written: no DNS, no reverse lookup.
    "  dns_canonicalize_hostname = false",
    "  rdns = false",
    // Debian's krb5 1.20.1-2+deb12u4 took krb5 1.21's rule (CVE-2025-3576): the KDC issues no
    // rc4 session key unless allow_rc4 is set; other builds ignore the unknown relation.
    "  allow_rc4 = true",
    "",
    "[realms]",
    `  ${realm} = {`,
    // No "tcp/" prefix: MIT 1.20 does not parse one. Clients try UDP, then TCP, on this port.
    `    kdc = 127.0.0.1:${port}`,
    "  }",
    "",
    "[domain_realm]",
    `  .winrm.test = ${realm}`,
    `  winrm.test = ${realm}`,
    "",
  ].join("\n");
}

function kdcConf(
  realm: string,
  dir: string,
  port: number,
  enctypes: readonly string[],
  maxDatagramReplyBytes: number | undefined,
): string {
  const listen = [`kdc_listen = 127.0.0.1:${port}`, `kdc_tcp_listen = 127.0.0.1:${port}`];
  return [
    "[kdcdefaults]",
    ...listen.map((line) => `  ${line}`),
    ...(maxDatagramReplyBytes === undefined
      ? []
      : [`  kdc_max_dgram_reply_size = ${maxDatagramReplyBytes}`]),
    "",
    "[realms]",
    `  ${realm} = {`,
    ...listen.map((line) => `    ${line}`),
    `    database_name = ${path.join(dir, "principal")}`,
    `    key_stash_file = ${path.join(dir, "stash")}`,
    `    acl_file = ${path.join(dir, "kadm5.acl")}`,
    "    master_key_type = aes256-cts-hmac-sha1-96",
    `    supported_enctypes = ${enctypes.map((enctype) => `${enctype}:normal`).join(" ")}`,
    // Every principal, krbtgt included, requires pre-authentication.
    "    default_principal_flags = +preauth",
    "  }",
    "",
    "[logging]",
    `  kdc = FILE:${path.join(dir, "kdc.log")}`,
    `  admin_server = FILE:${path.join(dir, "kadmin.log")}`,
    `  default = FILE:${path.join(dir, "krb5lib.log")}`,
    "",
  ].join("\n");
}

// ---- clean-up of realms a test did not stop ----

const liveRealms = new Set<Realm>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous only: 'exit' handlers cannot wait. A SIGKILLed test process never gets here;
  // for that the KDC runs under setpriv --pdeathsig, and only the folder is left behind.
  process.on("exit", () => {
    for (const realm of liveRealms) realm.killNow();
  });
}

// ---- the realm ----

class Realm implements MitRealm {
  readonly host = "127.0.0.1" as const;
  readonly krb5ConfPath: string;
  readonly kdcConfPath: string;
  readonly env: Readonly<Record<string, string>>;
  private port = 0;
  private kdc: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private kdcExited: Promise<void> = Promise.resolve();
  private output: Buffer = Buffer.alloc(0);
  private finalLog: string | undefined;
  private stopped = false;
  private readonly keytabs = new Map<string, string>();
  private readonly userEnctypes = new Map<string, KerberosEnctype[] | undefined>();
  private ccacheCount = 0;

  constructor(
    readonly realm: string,
    readonly dir: string,
    private readonly enctypes: readonly KerberosEnctype[],
    private readonly maxDatagramReplyBytes?: number,
  ) {
    this.krb5ConfPath = path.join(dir, "krb5.conf");
    this.kdcConfPath = path.join(dir, "kdc.conf");
    mkdirSync(path.join(dir, "rcache"));
    mkdirSync(path.join(dir, "keytabs"));
    mkdirSync(path.join(dir, "ccaches"));
    this.env = {
      KRB5_CONFIG: this.krb5ConfPath,
      KRB5RCACHEDIR: path.join(dir, "rcache"),
      KRB5CCNAME: `FILE:${path.join(dir, "ccaches", "default")}`,
      KRB5_KTNAME: `FILE:${path.join(dir, "keytabs", "all.keytab")}`,
    };
  }

  get kdcPid(): number | undefined {
    return this.kdc?.pid;
  }

  get tcpPort(): number {
    return this.port;
  }

  get udpPort(): number {
    return this.port;
  }

  /** What the admin tools and the KDC run with: the clients' environment plus kdc.conf. */
  private toolEnv(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.env, KRB5_KDC_PROFILE: this.kdcConfPath };
  }

  principal(name: string): string {
    return name.includes("@") ? name : `${name}@${this.realm}`;
  }

  keytab(service: string): string {
    const keytab = this.keytabs.get(this.principal(service));
    if (keytab === undefined) throw new Error(`no service ${service} in realm ${this.realm}`);
    return keytab;
  }

  writeConfig(port: number): void {
    this.port = port;
    writeFileSync(this.krb5ConfPath, krb5Conf(this.realm, port), { mode: 0o644 });
    const conf = kdcConf(this.realm, this.dir, port, this.enctypes, this.maxDatagramReplyBytes);
    writeFileSync(this.kdcConfPath, conf, { mode: 0o600 });
    writeFileSync(path.join(this.dir, "kadm5.acl"), "", { mode: 0o600 });
  }

  async createDatabase(): Promise<void> {
    // A random master password, on stdin twice (prompt and confirmation); -s keeps it in the
    // stash file named by kdc.conf, so the KDC and kadmin.local never ask for it.
    const master = randomBytes(24).toString("base64");
    const result = await run(
      tool("kdb5_util"),
      ["create", "-s", "-r", this.realm],
      this.toolEnv(),
      `${master}\n${master}\n`,
      this.dir,
    );
    if (result.status !== 0) {
      throw new Error(`kdb5_util create failed (${String(result.status)}): ${result.stderr}`);
    }
  }

  async kadmin(query: string, stdin = ""): Promise<string> {
    const result = await run(
      tool("kadmin.local"),
      ["-r", this.realm, "-q", query],
      this.toolEnv(),
      stdin,
      this.dir,
    );
    // The query is safe to show: passwords never go into it.
    if (result.status !== 0 || KADMIN_ERROR.test(result.stderr)) {
      throw new Error(`kadmin.local "${query}" failed: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  private async expectKeys(principal: string, enctypes: readonly string[]): Promise<void> {
    const found = keyEnctypes(await this.kadmin(`getprinc ${principal}`));
    const want = [...enctypes].sort();
    if (found.sort().join(",") !== want.join(",")) {
      throw new Error(`${principal} has keys ${found.join(", ")}, expected ${want.join(", ")}`);
    }
  }

  async addUser(user: RealmUser): Promise<void> {
    checkPassword(user.password);
    if (user.enctypes !== undefined) checkEnctypes(user.enctypes);
    const principal = this.principal(user.name);
    const preauth = user.requiresPreauth === false ? "-requires_preauth" : "+requires_preauth";
    const keys = user.enctypes === undefined ? "" : ` -e ${keySalts(user.enctypes)}`;
    // Without -pw, addprinc prompts for the password twice and reads it from stdin.
    await this.kadmin(
      `addprinc ${preauth}${keys} ${principal}`,
      `${user.password}\n${user.password}\n`,
    );
    await this.expectKeys(principal, user.enctypes ?? this.enctypes);
    this.userEnctypes.set(principal, user.enctypes);
  }

  async addService(service: string | RealmService): Promise<string> {
    const spec = typeof service === "string" ? { name: service } : service;
    if (spec.enctypes !== undefined) checkEnctypes(spec.enctypes);
    if (spec.sessionEnctypes !== undefined) checkEnctypes(spec.sessionEnctypes);
    const principal = this.principal(spec.name);
    const keys = spec.enctypes === undefined ? "" : ` -e ${keySalts(spec.enctypes)}`;
    await this.kadmin(`addprinc -randkey${keys} ${principal}`);
    const sessionEnctypes = spec.sessionEnctypes ?? spec.enctypes;
    if (sessionEnctypes !== undefined) {
      await this.kadmin(`setstr ${principal} session_enctypes ${sessionEnctypes.join(",")}`);
    }
    await this.expectKeys(principal, spec.enctypes ?? this.enctypes);

    const keytab = path.join(
      this.dir,
      "keytabs",
      `${principal.replace(/[^A-Za-z0-9.-]/g, "_")}.keytab`,
    );
    // -norandkey exports the keys the principal has; plain ktadd would replace them with new
    // random keys of the default enctypes.
    await this.kadmin(`ktadd -norandkey -k ${keytab} ${principal}`);
    await this.kadmin(`ktadd -norandkey -k ${this.env.KRB5_KTNAME!.slice(5)} ${principal}`);
    this.keytabs.set(principal, keytab);
    return keytab;
  }

  async changePassword(
    user: string,
    password: string,
    enctypes?: KerberosEnctype[],
  ): Promise<void> {
    checkPassword(password);
    const principal = this.principal(user);
    const keyEnctypeList = enctypes ?? this.userEnctypes.get(principal);
    if (keyEnctypeList !== undefined) checkEnctypes(keyEnctypeList);
    const keys = keyEnctypeList === undefined ? "" : ` -e ${keySalts(keyEnctypeList)}`;
    await this.kadmin(`cpw${keys} ${principal}`, `${password}\n${password}\n`);
    this.userEnctypes.set(principal, keyEnctypeList);
  }

  async kinit(user: string, password: string, ccachePath?: string): Promise<string> {
    const ccache =
      ccachePath ??
      path.join(
        this.dir,
        "ccaches",
        `${user.replace(/[^A-Za-z0-9.-]/g, "_")}-${++this.ccacheCount}`,
      );
    const result = await run(
      tool("kinit"),
      ["-c", `FILE:${ccache}`, this.principal(user)],
      { ...process.env, ...this.env },
      `${password}\n`,
      this.dir,
    );
    if (result.status !== 0) {
      const message = result.stderr.trim().split("\n").pop() ?? "";
      throw new Error(`kinit ${this.principal(user)} failed: ${message}`);
    }
    return `FILE:${ccache}`;
  }

  /** Starts krb5kdc and waits until it answers on TCP; rejects with the log tail if it does not. */
  async startKdc(timeoutMs: number): Promise<void> {
    this.output = Buffer.alloc(0);
    // The log file outlives a failed attempt: judge this attempt by what it adds.
    const logStart = this.logSize();
    // setpriv --pdeathsig: the kernel kills the KDC when this process dies, even by SIGKILL,
    // where no 'exit' handler runs. (util-linux; test/setup/system.sh installs it.)
    const setpriv = findTool("setpriv");
    const [command, args] =
      setpriv !== undefined
        ? [setpriv, ["--pdeathsig", "KILL", "--", tool("krb5kdc"), "-n", "-r", this.realm]]
        : [tool("krb5kdc"), ["-n", "-r", this.realm]];
    const kdc = spawn(command, args, {
      env: this.toolEnv(),
      cwd: this.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.kdc = kdc;
    let exited = false;
    this.kdcExited = new Promise((resolve) => {
      kdc.once("close", () => {
        exited = true;
        resolve();
      });
      kdc.once("error", (error) => {
        this.capture(Buffer.from(`cannot start krb5kdc: ${error.message}\n`));
        if (kdc.pid === undefined) {
          exited = true;
          resolve();
        }
      });
    });
    kdc.stdout.on("data", (chunk: Buffer) => this.capture(chunk));
    kdc.stderr.on("data", (chunk: Buffer) => this.capture(chunk));
    // A test that forgets stop() must not hang its process on the KDC's pipes; the exit hook
    // still ends the KDC.
    kdc.unref();
    (kdc.stdout as net.Socket).unref();
    (kdc.stderr as net.Socket).unref();

    const deadline = Date.now() + timeoutMs;
    while (!exited) {
      if (await tcpConnects(this.port)) {
        const sockets = socketsOnPort(this.port);
        if (sockets !== undefined && (sockets.tcp !== 1 || sockets.udp !== 1)) {
          await this.killKdc();
          throw new PortCollision(
            `port ${this.port} is shared (${sockets.tcp} TCP listeners, ${sockets.udp} UDP sockets)`,
          );
        }
        return;
      }
      if (Date.now() > deadline) {
        await this.killKdc();
        throw new Error(
          `krb5kdc did not answer on 127.0.0.1:${this.port} within ${timeoutMs} ms; log:\n${this.logTail()}`,
        );
      }
      await sleep(25);
    }
    const log = this.logTail();
    if (/Address already in use/.test(this.logSince(logStart))) {
      throw new PortCollision(`krb5kdc could not bind port ${this.port}`);
    }
    throw new Error(`krb5kdc exited during start-up; log:\n${log}`);
  }

  private capture(chunk: Buffer): void {
    const joined = Buffer.concat([this.output, chunk]);
    this.output = joined.subarray(Math.max(0, joined.length - OUTPUT_TAIL_BYTES));
  }

  private logSize(): number {
    try {
      return statSync(path.join(this.dir, "kdc.log")).size;
    } catch {
      return 0;
    }
  }

  private logSince(offset: number): string {
    try {
      return readFileSync(path.join(this.dir, "kdc.log")).subarray(offset).toString("utf8");
    } catch {
      return "";
    }
  }

  logTail(bytes = 4096): string {
    if (this.finalLog !== undefined) return this.finalLog.slice(-bytes);
    let log = "";
    try {
      log = readFileSync(path.join(this.dir, "kdc.log"), "utf8");
    } catch {
      // no log yet
    }
    const output = this.output.toString("utf8").trim();
    const text = output === "" ? log : `${log}--- krb5kdc output ---\n${output}\n`;
    return text.slice(-bytes);
  }

  private async killKdc(): Promise<void> {
    const kdc = this.kdc;
    if (kdc === undefined) return;
    if (kdc.exitCode === null && kdc.signalCode === null) {
      kdc.kill("SIGTERM");
      const grace = setTimeout(() => kdc.kill("SIGKILL"), STOP_GRACE_MS);
      try {
        await this.kdcExited;
      } finally {
        clearTimeout(grace);
      }
    }
    this.kdc = undefined;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.killKdc();
    this.finalLog = this.logTail(OUTPUT_TAIL_BYTES);
    liveRealms.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** For the exit hook: no waiting possible. */
  killNow(): void {
    try {
      this.kdc?.kill("SIGKILL");
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

class PortCollision extends Error {}

function keySalts(enctypes: readonly string[]): string {
  return enctypes.map((enctype) => `${enctype}:normal`).join(",");
}

/**
 * Creates a realm in a fresh temporary folder (database, users, services with keytabs) and starts
 * its KDC on 127.0.0.1. Always stop() it. Takes a fraction of a second on a warm machine.
 */
export async function startMitRealm(options: MitRealmOptions = {}): Promise<MitRealm> {
  const availability = mitKdcAvailability();
  if (!availability.available) throw new Error(availability.reason);
  const enctypes = options.supportedEnctypes ?? [...DEFAULT_ENCTYPES];
  checkEnctypes(enctypes);
  const realmName = options.realm ?? "WINRM.TEST";
  if (!/^[A-Z0-9.-]+$/.test(realmName)) throw new Error(`unusable realm name ${realmName}`);

  installExitHook();
  const dir = mkdtempSync(path.join(tmpdir(), "pulumi-winrm-krb5-"));
  const realm = new Realm(realmName, dir, enctypes, options.maxDatagramReplyBytes);
  liveRealms.add(realm);
  try {
    realm.writeConfig(await freePortPair());
    await realm.createDatabase();
    for (const user of options.users ?? []) await realm.addUser(user);
    for (const service of options.services ?? []) await realm.addService(service);

    for (let attempt = 1; ; attempt++) {
      try {
        await realm.startKdc(options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
        return realm;
      } catch (error) {
        if (!(error instanceof PortCollision) || attempt >= START_ATTEMPTS) throw error;
        // Another process took the port between our probe and the KDC's bind: new port.
        realm.writeConfig(await freePortPair());
      }
    }
  } catch (error) {
    await realm.stop();
    throw error;
  }
}
