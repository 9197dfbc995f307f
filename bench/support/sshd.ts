/**
 * A throwaway OpenSSH server on 127.0.0.1 for the SSH peers of the benchmarks. openssh-server
 * is installed with apt-get when sshd is missing (without starting its system service); sshd
 * then runs on a free port with a host key, config and authorized key in the given folder,
 * and is stopped by the cleanup.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import * as path from "node:path";
import { type Cleanup, freePort, log, LOOPBACK, run, stopProcess } from "./process";

const SSHD = "/usr/sbin/sshd";
const SFTP_SERVER = "/usr/lib/openssh/sftp-server";
const POLICY_RC_D = "/usr/sbin/policy-rc.d";

/** Installs openssh-server with apt-get when sshd is missing, without starting its service. */
async function ensureSshd(): Promise<void> {
  if (existsSync(SSHD) && existsSync(SFTP_SERVER)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${SSHD} is missing; install it with: sudo apt-get install openssh-server`);
  }
  // Debian's maintainer scripts start the system service unless policy-rc.d forbids it; this
  // bench must not leave an sshd on port 22, so forbid it for the install when nothing does.
  const addedPolicy = !existsSync(POLICY_RC_D);
  if (addedPolicy) await writeFile(POLICY_RC_D, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const install = ["install", "-y", "-q", "openssh-server"];
    log("scp peer: installing openssh-server with apt-get");
    try {
      await run("apt-get", install, { env });
    } catch {
      log("scp peer: apt-get install failed; running apt-get update and trying again");
      await run("apt-get", ["update", "-q"], { env });
      await run("apt-get", install, { env });
    }
  } finally {
    if (addedPolicy) await rm(POLICY_RC_D, { force: true });
  }
  if (!existsSync(SSHD)) throw new Error(`openssh-server installed but ${SSHD} is missing`);
}

export interface Ssh {
  /** Arguments for scp that reach this server as root with the throwaway key. */
  scpArgs: string[];
  /** The same for ssh (whose port flag is -p). */
  sshArgs: string[];
  target: string;
}

async function waitForBanner(port: number, sshd: ChildProcess, stderr: () => string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (sshd.exitCode !== null) throw new Error(`sshd exited: ${stderr().trim()}`);
    const ready = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: LOOPBACK, port });
      socket.setTimeout(1000, () => socket.destroy());
      socket.once("data", (data: Buffer) => {
        socket.destroy();
        resolve(data.toString("latin1").startsWith("SSH-"));
      });
      socket.once("error", () => resolve(false));
      socket.once("close", () => resolve(false));
    });
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`sshd did not answer on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startSshd(folder: string, cleanup: Cleanup): Promise<Ssh> {
  await ensureSshd();
  // sshd started as root insists on its privilege separation directory (Debian's service
  // creates it at boot; in a container nothing may have).
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
  const file = (name: string) => path.join(folder, name);
  // A passphrase-less ed25519 key pair, for the host and for the user.
  const keygen = (name: string) =>
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `bench-${name}`, "-f", file(name)]);
  await keygen("host_key");
  await keygen("user_key");
  await writeFile(file("authorized_keys"), await readFile(file("user_key.pub")), { mode: 0o600 });
  const port = await freePort();
  const hostKey = (await readFile(file("host_key.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
  await writeFile(file("known_hosts"), `[${LOOPBACK}]:${port} ${hostKey}\n`);
  await writeFile(
    file("sshd_config"),
    [
      `Port ${port}`,
      `ListenAddress ${LOOPBACK}`,
      `HostKey ${file("host_key")}`,
      `PidFile ${file("sshd.pid")}`,
      `AuthorizedKeysFile ${file("authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      // The temporary folder belongs to us, but its parent is world-writable /tmp.
      "StrictModes no",
      `Subsystem sftp ${SFTP_SERVER}`,
      "",
    ].join("\n"),
  );
  // -D: stay in the foreground as our child; -e: log to stderr.
  const sshd = spawn(SSHD, ["-D", "-e", "-f", file("sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  cleanup.add("stopping sshd", () => stopProcess(sshd));
  let errors = "";
  sshd.stderr.on("data", (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-4000)));
  await waitForBanner(port, sshd, () => errors);
  const user = process.env.USER ?? "root";
  const common = [
    "-i",
    file("user_key"),
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${file("known_hosts")}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
  ];
  return {
    scpArgs: ["-q", "-F", "/dev/null", "-P", String(port), ...common],
    sshArgs: ["-q", "-F", "/dev/null", "-p", String(port), ...common],
    target: `${user}@${LOOPBACK}`,
  };
}
