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

/**
 * Starts dnsmasq serving `records` on a free port. The port is free when chosen but not held,
 * so another test starting beside this one (the other Node versions' jobs run the same files at
 * the same time) may take it first: a dnsmasq that cannot bind, or that never serves its own
 * records there, is started again on another.
 */
export async function startDnsServer(records: readonly SrvRecord[]): Promise<DnsServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDnsServerOnce(records);
    } catch (error) {
      if (!(error instanceof StartAgainError) || attempt >= 5) throw error;
    }
  }
}

class StartAgainError extends Error {}

async function startDnsServerOnce(records: readonly SrvRecord[]): Promise<DnsServer> {
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
  // Ready when it serves its own first record. An error reply was taken as proof before, and a
  // CI run's Node 24 job then sent a test to a port where nothing served its records (its
  // dnsmasq gone, or never bound, while another answered the probe).
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([address]);
  const probe = records[0]?.name ?? "_probe._tcp.invalid";
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      const message = `dnsmasq exited at start (${child.exitCode}): ${stderr.trim()}`;
      throw /in use/i.test(stderr) ? new StartAgainError(message) : new Error(message);
    }
    try {
      const answer = await resolver.resolveSrv(probe);
      // Its own record, port and all: not another dnsmasq's that holds the same name.
      if (records.length === 0 || answer.some((record) => record.port === records[0]!.port)) {
        break;
      }
    } catch (error) {
      // With no records to ask for, an error reply (REFUSED: no upstream) means it answers.
      const code = (error as NodeJS.ErrnoException).code;
      if (records.length === 0 && code !== "ETIMEOUT" && code !== "ECONNREFUSED") break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new StartAgainError(
        `dnsmasq did not serve its records within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { address, stop };
}
