/**
 * The loopback WinRM host: a real WS-Management server on 127.0.0.1 that behaves like a
 * default-configured Windows host (Negotiate with message encryption over HTTP, Basic off,
 * AllowUnencrypted off, CbtHardeningLevel Relaxed), runs commands as local processes, and can
 * misbehave on demand (see faults.ts). Used by the client's, the resources' and the
 * end-to-end tests, and as the demo's target (cli.ts).
 *
 *   const host = await startHost();
 *   // ... connect to host.url as host.user / host.password ...
 *   await host.close();
 */
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { arch, release, type } from "node:os";
import { tlsServerEndPoint } from "../../provider/auth/channel-bindings";
import { userTable } from "../../provider/auth/credentials";
import { readKeytab } from "../../provider/auth/kerberos/keytab";
import { makeServerCredentials } from "./certificates";
import { FaultController } from "./faults";
import { WSMAN_PATH, WsmanListener } from "./http";
import { ExecutionLog, LogKind } from "./log";
import { Machine } from "./machine";
import { findPwsh, WinRsService } from "./shell";

export { ExecutionLog, LogKind, type LogCounters, type LogEntry } from "./log";
export { FaultController, type InjectedFault } from "./faults";
export { WsmanCode } from "./wsman";
export { Machine, CBS_REBOOT_PENDING } from "./machine";

export interface HostUser {
  user: string;
  domain?: string;
  password: string;
}

export interface HostOptions {
  /**
   * Kerberos as a domain member has it: the keytab holding the keys of HTTP/<name> (from the
   * test realm, test/support/mit-kdc.ts). The listener then offers the Kerberos scheme too and
   * accepts Kerberos inside Negotiate. allowNtlm false makes it Kerberos-only.
   */
  kerberos?: { keytab: string; allowNtlm?: boolean };
  /**
   * Who the host says it is. "posix" (the default): an honest non-Windows WS-Management host,
   * to which a client sends POSIX sh. "windows": Identify answers as Windows Server 2022 does,
   * so a client chooses PowerShell without being told, and PowerShell command lines run in
   * pwsh with powershell.exe's argument rules (shell.ts). cmd.exe lines still run under sh:
   * there is no cmd.exe here. The Windows persona refuses to start without pwsh.
   */
  persona?: "posix" | "windows";
  /**
   * The Windows persona's PowerShell language mode; default "FullLanguage".
   * "ConstrainedLanguage" is what a host under an App Control for Business (WDAC) or AppLocker
   * policy gives a command it did not allow: every -EncodedCommand runs in Constrained
   * Language Mode (about_Language_Modes). pwsh on Linux has no such policy, so the persona puts
   * the session in that mode itself before the command's own text runs.
   */
  powershellLanguageMode?: "FullLanguage" | "ConstrainedLanguage";
  /** Default 0: a free port. The host always binds 127.0.0.1. */
  port?: number;
  /** Default: one user "winrm-test" with a random password. */
  users?: HostUser[];
  /** Serve TLS with a fresh CA and server certificate: rsa (SHA-256) or ec (P-384, SHA-384). */
  https?: false | "rsa" | "ec";
  /** Auth/Basic; default false, as on Windows. */
  basic?: boolean;
  /** AllowUnencrypted; default false, as on Windows. */
  allowUnencrypted?: boolean;
  /** Auth/CbtHardeningLevel; default "relaxed", as on Windows. */
  cbtHardeningLevel?: "none" | "relaxed" | "strict";
  /** MaxEnvelopeSizekb; default 500 (Windows Server 2012 and later). */
  maxEnvelopeSizeKb?: number;
  /** Winrs MaxShellsPerUser; default 30. */
  maxShellsPerUser?: number;
  /** Service MaxConcurrentOperationsPerUser; default 1500. */
  maxConcurrentOperationsPerUser?: number;
  /** Refuse connections for this long after starting: a host still booting. */
  refuseConnectionsForMs?: number;
  /** The POSIX shell standing in for cmd.exe; default /bin/sh. */
  shell?: string;
  /**
   * The pwsh that stands in for powershell.exe; default: the one findPwsh() finds, looked up
   * at the first PowerShell command. null: a host without PowerShell, whose PowerShell
   * commands are refused with a fault that says so.
   */
  pwsh?: string | null;
  /**
   * Refuse an OperationTimeout that is not a whole number of seconds (PT0.100S) with
   * w:InvalidParameter: a stricter host than Windows is known to be, for the client's fallback.
   */
  wholeSecondTimeoutsOnly?: boolean;
  /**
   * How long a restart keeps the host down (machine.ts); default 3000 ms. A command restarts
   * the host with `shutdown.exe /r` (Windows persona) or `shutdown -r` (POSIX persona).
   */
  restartDownMs?: number;
}

export interface Host {
  /** e.g. http://127.0.0.1:PORT/wsman */
  url: string;
  port: number;
  /** The first user's name and password. */
  user: string;
  password: string;
  /** HTTPS only: the CA that signed the server certificate. */
  caCertificatePem?: string;
  /** HTTPS only: the server certificate (DER). */
  certificateDer?: Buffer;
  log: ExecutionLog;
  faults: FaultController;
  /** The machine: boot time, the pending-restart switch, restarts (machine.ts). */
  machine: Machine;
  /** Stops listening, destroys every connection and kills every process group it started. */
  close(): Promise<void>;
}

/** Defaults in one place: a fresh Windows Server's WinRM service configuration. */
const DEFAULTS = Object.freeze({
  basic: false,
  allowUnencrypted: false,
  cbtHardeningLevel: "relaxed",
  maxEnvelopeSizeKb: 500,
  maxShellsPerUser: 30,
  maxConcurrentOperationsPerUser: 1500,
  shell: "/bin/sh",
  user: "winrm-test",
} as const);

const HOST_ADDRESS = "127.0.0.1";

/** What Windows Server 2022 (build 20348) answers to Identify (DSP0226 11, MS-WSMV 3.1.4.16). */
const WINDOWS_IDENTITY = Object.freeze({
  productVendor: "Microsoft Corporation",
  productVersion: "OS: 10.0.20348 SP: 0.0 Stack: 3.0",
});

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`startHost: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export async function startHost(options: HostOptions = {}): Promise<Host> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startHost: port must be 0..65535, got ${String(options.port)}`);
  }
  const users: HostUser[] = options.users?.length
    ? options.users.map((entry) => ({ ...entry }))
    : [{ user: DEFAULTS.user, password: randomBytes(12).toString("base64url") + "!a1" }];
  const first = users[0]!;
  const cbt = options.cbtHardeningLevel ?? DEFAULTS.cbtHardeningLevel;
  if (!["none", "relaxed", "strict"].includes(cbt)) {
    throw new RangeError(`startHost: cbtHardeningLevel must be none, relaxed or strict`);
  }
  const https = options.https ?? false;
  if (https !== false && https !== "rsa" && https !== "ec") {
    throw new RangeError(`startHost: https must be false, "rsa" or "ec"`);
  }
  const persona = options.persona ?? "posix";
  if (persona !== "posix" && persona !== "windows") {
    throw new RangeError(`startHost: persona must be "posix" or "windows"`);
  }
  const languageMode = options.powershellLanguageMode ?? "FullLanguage";
  if (languageMode !== "FullLanguage" && languageMode !== "ConstrainedLanguage") {
    throw new RangeError(
      `startHost: powershellLanguageMode must be FullLanguage or ConstrainedLanguage`,
    );
  }
  if (languageMode !== "FullLanguage" && persona !== "windows") {
    throw new RangeError("startHost: powershellLanguageMode applies to the windows persona only");
  }
  let pwsh = options.pwsh;
  if (persona === "windows") {
    if (pwsh === null) throw new RangeError("startHost: the windows persona needs pwsh");
    pwsh ??= findPwsh();
    if (pwsh === undefined) {
      throw new Error(
        "the windows persona runs PowerShell in pwsh (PowerShell 7), which is not installed: " +
          "run `bash test/setup/pwsh.sh` (it installs PowerShell 7.6 as a .NET global tool) " +
          "or put pwsh on PATH",
      );
    }
  }
  const maxEnvelopeSize =
    positiveInteger("maxEnvelopeSizeKb", options.maxEnvelopeSizeKb, DEFAULTS.maxEnvelopeSizeKb) *
    1024;

  const kerberosKeys =
    options.kerberos === undefined ? undefined : readKeytab(options.kerberos.keytab);
  if (kerberosKeys !== undefined && kerberosKeys.length === 0) {
    throw new RangeError(`startHost: the keytab ${options.kerberos!.keytab} holds no usable key`);
  }
  const credentials = https ? makeServerCredentials(https) : undefined;
  const log = new ExecutionLog();
  const scheme = https ? "https" : "http";
  let url = "";

  // Connections are accepted by a plain TCP server and handed to the HTTP(S) server, so that
  // the port can be closed and reopened (refuseConnectionsFor) without touching live ones.
  const sockets = new Set<Socket>();
  let acceptor: NetServer | undefined;
  let boundPort = port;
  let closed = false;
  let reopenTimer: NodeJS.Timeout | undefined;

  const server: Server = credentials
    ? createHttpsServer({ key: credentials.keyPem, cert: credentials.certificatePem })
    : createHttpServer();
  // Windows keeps idle authenticated connections for two minutes (HTTP.sys IdleConnectionTimeout).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const tcp = createNetServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        log.count("connections");
        server.emit("connection", socket);
      });
      tcp.once("error", reject);
      tcp.listen(boundPort, HOST_ADDRESS, () => {
        tcp.off("error", reject);
        const address = tcp.address();
        if (address !== null && typeof address === "object") boundPort = address.port;
        acceptor = tcp;
        resolve();
      });
    });

  // net.Server.close's callback waits for every accepted connection to end; the port itself is
  // released at once, which is all that refusing (or closing) needs.
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      acceptor?.close();
      acceptor = undefined;
      setImmediate(resolve);
    });

  const refuse = (ms: number) => {
    if (closed) return;
    log.record(LogKind.FAULT_INJECTED, { detail: `connections refused for ${ms} ms` });
    clearTimeout(reopenTimer);
    void stopListening().then(() => {
      reopenTimer = setTimeout(() => {
        if (!closed && acceptor === undefined) {
          listen().catch((error: unknown) =>
            console.error("loopback host: cannot listen again:", error),
          );
        }
      }, ms);
    });
  };

  const faults = new FaultController(refuse);
  const machine = new Machine({ restartDownMs: options.restartDownMs });
  const service = new WinRsService({
    log,
    shell: options.shell ?? DEFAULTS.shell,
    pwsh,
    persona,
    powershellLanguageMode: languageMode,
    maxShellsPerUser: positiveInteger(
      "maxShellsPerUser",
      options.maxShellsPerUser,
      DEFAULTS.maxShellsPerUser,
    ),
    maxConcurrentOperationsPerUser: positiveInteger(
      "maxConcurrentOperationsPerUser",
      options.maxConcurrentOperationsPerUser,
      DEFAULTS.maxConcurrentOperationsPerUser,
    ),
    maxEnvelopeSize,
    get address() {
      return url;
    },
    machine,
  });

  const findUser = (user: string, domain: string): HostUser | undefined => {
    let name = user.toLowerCase();
    let realm = domain.toLowerCase();
    const at = name.lastIndexOf("@");
    if (realm === "" && at > 0) {
      realm = name.slice(at + 1);
      name = name.slice(0, at);
    }
    return users.find(
      (entry) =>
        entry.user.toLowerCase() === name &&
        (entry.domain === undefined || entry.domain === "" || entry.domain.toLowerCase() === realm),
    );
  };
  const accountName = (entry: HostUser) =>
    entry.domain ? `${entry.domain}\\${entry.user}` : entry.user;

  const profiles = [`${scheme}/spnego-kerberos`];
  if (options.basic && (https || options.allowUnencrypted)) profiles.push(`${scheme}/basic`);
  const listener = new WsmanListener({
    log,
    faults,
    service,
    credentials: userTable(users),
    ...(kerberosKeys === undefined ? {} : { kerberosKeys }),
    allowNtlm: options.kerberos?.allowNtlm ?? true,
    checkBasic: (name, password) => {
      const slash = name.indexOf("\\");
      const entry = findUser(
        slash >= 0 ? name.slice(slash + 1) : name,
        slash >= 0 ? name.slice(0, slash) : "",
      );
      return entry !== undefined && entry.password === password ? accountName(entry) : undefined;
    },
    accountName: (user, domain) => {
      const entry = findUser(user, domain);
      return entry ? accountName(entry) : domain ? `${domain}\\${user}` : user;
    },
    tlsCertificateDer: credentials?.certificateDer,
    channelBindingApplicationData: credentials
      ? tlsServerEndPoint(credentials.certificateDer)
      : undefined,
    basic: options.basic ?? DEFAULTS.basic,
    allowUnencrypted: options.allowUnencrypted ?? DEFAULTS.allowUnencrypted,
    cbtHardeningLevel: cbt,
    maxEnvelopeSize,
    wholeSecondTimeoutsOnly: options.wholeSecondTimeoutsOnly ?? false,
    identify: {
      ...(persona === "windows"
        ? WINDOWS_IDENTITY
        : {
            // Honest: not Windows, so a client can tell it must not send Windows-only scripts.
            productVendor: "pulumi-winrm loopback host",
            productVersion: `OS: ${type()} ${release()} ${arch()} SP: 0.0 Stack: 3.0`,
          }),
      securityProfiles: profiles.map(
        (profile) => `http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/${profile}`,
      ),
    },
    machine: HOST_ADDRESS,
  });
  listener.attach(server);

  await listen();
  // A restart, as a rebooting host does it: every connection closes, every process ends and
  // every shell is forgotten; the port refuses until the machine comes back on it.
  await machine.start({
    goDown: async (reason) => {
      log.record(LogKind.FAULT_INJECTED, { detail: `restart: ${reason}` });
      clearTimeout(reopenTimer);
      await stopListening();
      for (const socket of sockets) socket.destroy();
      await service.closeAll();
    },
    comeBack: async () => {
      if (!closed && acceptor === undefined) await listen();
    },
  });
  url = `${scheme}://${HOST_ADDRESS}:${boundPort}${WSMAN_PATH}`;
  if (options.refuseConnectionsForMs !== undefined && options.refuseConnectionsForMs > 0) {
    faults.refuseConnectionsFor(options.refuseConnectionsForMs);
    await new Promise((resolve) => setImmediate(resolve));
  }

  const host: Host = {
    url,
    port: boundPort,
    user: first.domain ? `${first.domain}\\${first.user}` : first.user,
    password: first.password,
    log,
    faults,
    machine,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(reopenTimer);
      await machine.close();
      await stopListening();
      for (const socket of sockets) socket.destroy();
      server.close();
      await service.closeAll();
    },
  };
  if (credentials) {
    host.caCertificatePem = credentials.caCertificatePem;
    host.certificateDer = credentials.certificateDer;
  }
  return host;
}
