/**
 * KDC addresses as users write them ("host", "host:port", "[v6]:port", with "tcp/" or "udp/" in
 * front). Apart from the transport so that checking the options does not load sockets.
 */
import { InvalidArgumentError } from "../../errors";

export interface KdcAddress {
  host: string;
  port: number;
  /** "auto" (the default): UDP for small requests, TCP otherwise and on RESPONSE_TOO_BIG. */
  transport?: "auto" | "udp" | "tcp";
}

export function parseKdcAddress(text: string, defaultPort = 88): KdcAddress {
  const trimmed = text.trim();
  const transport = /^tcp\//i.test(trimmed) ? "tcp" : /^udp\//i.test(trimmed) ? "udp" : "auto";
  const rest = trimmed.replace(/^(tcp|udp)\//i, "");
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  const plain = /^([^:]+)(?::(\d+))?$/.exec(rest);
  const match = bracketed ?? plain;
  if (!match)
    throw new InvalidArgumentError("kdc", `"${text}" is not a KDC address (host or host:port)`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidArgumentError("kdc", `"${text}" names port ${match[2]}, which is not a port`);
  }
  return { host: match[1]!, port, transport };
}
