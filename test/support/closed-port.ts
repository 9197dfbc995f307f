/**
 * A loopback port nobody listens on, for tests of an unreachable host.
 *
 * A port picked by binding port 0 and closing is in the kernel's ephemeral range, where the
 * next process to bind port 0 (the Pulumi engine's own gRPC servers, say) may get it before
 * the test connects, and the test then meets HTTP/2 instead of a refusal. A port below that
 * range is never handed out at random, so once it is seen free it stays refused.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOOPBACK = "127.0.0.1";
/** Used when /proc does not say (Linux's default ephemeral range starts at 32768). */
const DEFAULT_EPHEMERAL_START = 32768;

function ephemeralRangeStart(): number {
  try {
    const [start] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    return start !== undefined && Number.isInteger(start) ? start : DEFAULT_EPHEMERAL_START;
  } catch {
    return DEFAULT_EPHEMERAL_START;
  }
}

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}

/** A free port below the ephemeral range, searching down from just below its start. */
export async function closedPort(): Promise<number> {
  const start = ephemeralRangeStart();
  for (let port = start - 1 - Math.floor(Math.random() * 1000); port > 1024; port--) {
    if (await free(port)) return port;
  }
  throw new Error(`no free loopback port below ${start}`);
}
