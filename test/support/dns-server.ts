/**
 * A real DNS server on loopback for the tests that find KDCs by SRV records (RFC 4120
 * 7.2.3.2): Debian's dnsmasq, run in the foreground with no upstream, no hosts file and only the
 * records given, on a free port. Stop it when done.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { existsSync } from "node:fs";

const DNSMASQ = "/usr/sbin/dnsmasq";
const START_TIMEOUT_MS = 5_000;

export interface SrvRecord {
  /** The owner name, such as `_kerberos._tcp.example.test`. */
  name: string;
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface DnsServer {
  /** "127.0.0.1:port", as the resolver's setServers takes it. */
  readonly address: string;
  stop(): Promise<void>;
}

/** Why DNS tests cannot run here, or undefined; in CI a missing dnsmasq is an error. */
export function dnsServerSkipReason(): string | undefined {
  if (existsSync(DNSMASQ)) return undefined;
  const reason = "dnsmasq is not installed: run `bash test/setup/system.sh` as root";
  if (process.env.CI) throw new Error(reason);
  return reason;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export async function startDnsServer(records: readonly SrvRecord[]): Promise<DnsServer> {
  const port = await freeUdpPort();
  const args = [
    "--keep-in-foreground",
    `--port=${port}`,
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    "--no-poll",
    "--user=root",
    "--pid-file=",
    ...records.map(
      (r) => `--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`,
    ),
  ];
  const child: ChildProcess = spawn(DNSMASQ, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  // Ready when it answers at all: a name it does not hold gets an error reply (REFUSED, with
  // no upstream), which is not the silence (ETIMEOUT) of a server not yet listening.
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([address]);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`dnsmasq exited at start (${child.exitCode}): ${stderr.trim()}`);
    }
    try {
      await resolver.resolveSrv("_probe._tcp.invalid");
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ETIMEOUT" && code !== "ECONNREFUSED") break;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`dnsmasq did not answer within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`);
      }
    }
  }
  return { address, stop };
}
