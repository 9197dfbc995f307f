/**
 * The host the `remote` tier runs against, from the environment:
 *
 *   WINRM_TEST_HOST      host name or address, optionally :port; or "loopback" (the POSIX
 *                        persona) or "loopback-windows" (the Windows persona, PowerShell in
 *                        pwsh) to start the loopback host in this process (proves the tier
 *                        itself, in CI)
 *   WINRM_TEST_USER      DOMAIN\user, user@domain or a local user
 *   WINRM_TEST_PASSWORD  its password
 *   WINRM_TEST_HTTPS     1: HTTPS (port 5986 unless given)
 *   WINRM_TEST_CA        path of a PEM CA bundle for HTTPS
 *   WINRM_TEST_INSECURE  1: skip certificate verification (HTTPS)
 *   WINRM_TEST_AUTH      negotiate (default), ntlm or basic
 *
 * With WINRM_TEST_HOST unset the tier's tests skip and say which variables to set. The same
 * tests serve a Windows host and the loopback host: `Family` holds the commands of each.
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { posix, win32 } from "node:path";
import { randomBytes } from "node:crypto";
import { WinRMClient } from "../../../provider/winrm/client";
import type { ClientOptions } from "../../../provider/winrm/options";
import { type Host, startHost } from "../../host";

export const SKIP_REASON =
  "set WINRM_TEST_HOST (a Windows host, or 'loopback'), WINRM_TEST_USER and WINRM_TEST_PASSWORD " +
  "to run the remote tier";

/** Whether the tier has a host to run against; otherwise its tests skip with SKIP_REASON. */
export const configured = (process.env.WINRM_TEST_HOST ?? "") !== "";

/** Commands and paths in the remote host's own terms. */
export interface Family {
  windows: boolean;
  /** RemoteCommand's shell for the commands below. */
  shell: "powershell" | "cmd";
  /** A fresh folder on the host for this run (not created). */
  workDir: string;
  join(...parts: string[]): string;
  /** A command for client.run that copies its stdin to its stdout. */
  copyStdin: string;
  /** Prints `text` and a newline. `text` holds only letters, digits, '-' and spaces. */
  echo(text: string): string;
  exit(code: number): string;
  /** Creates `path` (its folder exists) holding `text` and a newline. */
  writeFile(path: string, text: string): string;
  /** Exits 0 when `path` exists, 1 otherwise. */
  exists(path: string): string;
  /** Prints the file's content. */
  readFile(path: string): string;
  removeFile(path: string): string;
  makeDir(path: string): string;
}

function quotePosix(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function quotePowerShell(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

const posixFamily = (workDir: string): Family => ({
  windows: false,
  shell: "cmd",
  workDir,
  join: (...parts) => posix.join(...parts),
  copyStdin: "cat",
  echo: (text) => `echo ${quotePosix(text)}`,
  exit: (code) => `exit ${code}`,
  writeFile: (path, text) => `printf '%s\\n' ${quotePosix(text)} > ${quotePosix(path)}`,
  exists: (path) => `test -e ${quotePosix(path)}`,
  readFile: (path) => `cat ${quotePosix(path)}`,
  removeFile: (path) => `rm -f ${quotePosix(path)}`,
  makeDir: (path) => `mkdir -p ${quotePosix(path)}`,
});

/**
 * On Windows, paths are Windows paths and cmd.exe runs `findstr`. The Windows persona of the
 * loopback host runs PowerShell in pwsh on this machine's file system, and its stand-in for
 * cmd.exe is sh: there the paths are POSIX paths and the copy is `cat`.
 */
const powerShellFamily = (workDir: string, persona: boolean): Family => ({
  windows: true,
  shell: "powershell",
  workDir,
  join: (...parts) => (persona ? posix.join(...parts) : win32.join(...parts)),
  // findstr prints every line matching "beginning of line".
  copyStdin: persona ? "cat" : 'findstr "^"',
  echo: (text) => `Write-Output ${quotePowerShell(text)}`,
  exit: (code) => `exit ${code}`,
  writeFile: (path, text) =>
    `[IO.File]::WriteAllText(${quotePowerShell(path)}, ${quotePowerShell(`${text}\n`)})`,
  exists: (path) =>
    `if (Test-Path -LiteralPath ${quotePowerShell(path)}) { exit 0 } else { exit 1 }`,
  readFile: (path) => `[Console]::Out.Write([IO.File]::ReadAllText(${quotePowerShell(path)}))`,
  removeFile: (path) =>
    `Remove-Item -LiteralPath ${quotePowerShell(path)} -Force -ErrorAction SilentlyContinue`,
  makeDir: (path) =>
    `New-Item -ItemType Directory -Force -Path ${quotePowerShell(path)} | Out-Null`,
});

export interface Target {
  /** Connection options for the client (and, with `connection`, for the resources). */
  clientOptions: ClientOptions;
  /** The resources' `connection` input. */
  connection: Record<string, unknown>;
  family: Family;
  /** The loopback host when WINRM_TEST_HOST=loopback or loopback-windows. */
  loopback?: Host;
  client(options?: Partial<ClientOptions>): WinRMClient;
  close(): Promise<void>;
}

function flag(name: string): boolean {
  return ["1", "true", "yes"].includes((process.env[name] ?? "").toLowerCase());
}

/** Connects to the configured host, learns its family, and picks a work folder on it. */
export async function openTarget(): Promise<Target> {
  const spec = process.env.WINRM_TEST_HOST ?? "";
  let loopback: Host | undefined;
  let options: ClientOptions;
  if (spec === "loopback" || spec === "loopback-windows") {
    loopback = await startHost({ persona: spec === "loopback" ? "posix" : "windows" });
    options = {
      host: "127.0.0.1",
      port: loopback.port,
      user: loopback.user,
      password: loopback.password,
    };
  } else {
    const user = process.env.WINRM_TEST_USER;
    const password = process.env.WINRM_TEST_PASSWORD;
    if (!user || !password) {
      throw new Error(
        `WINRM_TEST_HOST is set but not both of WINRM_TEST_USER and WINRM_TEST_PASSWORD`,
      );
    }
    const [host, port] = spec.includes(":") ? spec.split(":") : [spec, undefined];
    const caPath = process.env.WINRM_TEST_CA;
    options = {
      host: host ?? spec,
      port: port === undefined ? undefined : Number(port),
      user,
      password,
      https: flag("WINRM_TEST_HTTPS"),
      insecure: flag("WINRM_TEST_INSECURE") || undefined,
      caCert: caPath ? readFileSync(caPath, "utf8") : undefined,
      auth: (process.env.WINRM_TEST_AUTH as ClientOptions["auth"]) ?? undefined,
    };
  }
  const client = (extra: Partial<ClientOptions> = {}) =>
    new WinRMClient({ readyTimeoutMs: 30_000, ...options, ...extra });
  const probe = client();
  let windows: boolean;
  try {
    windows = (await probe.identify()).windows;
  } finally {
    await probe.close();
  }
  const run = `pulumi-winrm-remote-${randomBytes(4).toString("hex")}`;
  const family = !windows
    ? posixFamily(posix.join(tmpdir(), run))
    : loopback
      ? powerShellFamily(posix.join(tmpdir(), run), true)
      : powerShellFamily(win32.join("C:\\Windows\\Temp", run), false);
  const connection: Record<string, unknown> = {
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    auth: options.auth,
    https: options.https,
    insecure: options.insecure,
    caCert: options.caCert,
  };
  for (const key of Object.keys(connection)) {
    if (connection[key] === undefined) delete connection[key];
  }
  return {
    clientOptions: options,
    connection,
    family,
    loopback,
    client,
    async close() {
      const cleaner = client();
      try {
        await (await cleaner.files()).remove(family.workDir, { recursive: true });
      } finally {
        await cleaner.close();
        await loopback?.close();
      }
    },
  };
}

/** Output as text with Windows line ends made "\n". */
export const text = (bytes: Buffer | string): string =>
  (typeof bytes === "string" ? bytes : bytes.toString("utf8")).replace(/\r\n/g, "\n");
