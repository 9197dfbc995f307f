/**
 * Talking to a KDC (RFC 4120 7.2): a request in one UDP datagram, or over TCP with a 4-byte
 * big-endian length in front of each message. UDP is tried first for small requests, as MIT
 * does; a KRB_ERR_RESPONSE_TOO_BIG answer, or a request too large for one datagram, goes over
 * TCP. Each KDC of the realm is tried in turn; only when none answers is it an error.
 */
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { KerberosError } from "../../errors";
import { KrbErrorCode } from "./errors";
import type { KdcAddress } from "./kdc-address";

/** MIT's udp_preference_limit: requests larger than this go straight to TCP. */
const UDP_LIMIT = 1465;
/** A reply larger than this is refused before it is buffered (a KDC reply is a few KB). */
const MAX_REPLY = 1 << 20;
const DEFAULT_TIMEOUT_MS = 5_000;
/** How long "auto" waits on UDP before it tries TCP. */
const UDP_AUTO_TIMEOUT_MS = 1_500;

function isResponseTooBig(reply: Buffer): boolean {
  // A KRB-ERROR is [APPLICATION 30]; its error-code is [6]. A cheap scan is enough to decide
  // whether to retry over TCP: the reply is decoded properly by the caller either way.
  if (reply[0] !== 0x7e) return false;
  const marker = Buffer.from([0xa6, 0x03, 0x02, 0x01, KrbErrorCode.KRB_ERR_RESPONSE_TOO_BIG]);
  return reply.indexOf(marker) > 0;
}

function overUdp(kdc: KdcAddress, request: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(kdc.host.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(
      () => finish(new Error(`no answer over UDP in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(reply!);
    };
    socket.on("error", (error) => finish(error));
    socket.on("message", (reply) => finish(undefined, reply));
    socket.send(request, kdc.port, kdc.host);
  });
}

function overTcp(kdc: KdcAddress, request: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: kdc.host, port: kdc.port });
    const chunks: Buffer[] = [];
    let received = 0;
    let expected: number | undefined;
    const timer = setTimeout(
      () => finish(new Error(`no answer over TCP in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply!);
    };
    socket.on("connect", () => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(request.length, 0);
      socket.write(Buffer.concat([length, request]));
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (expected === undefined && received >= 4) {
        expected = Buffer.concat(chunks).readUInt32BE(0);
        // The top bit is reserved (RFC 4120 7.2.2); a set bit or a huge length is not a reply.
        if (expected > MAX_REPLY) {
          finish(new Error(`the KDC announced a reply of ${expected} bytes`));
          return;
        }
      }
      if (expected !== undefined && received >= 4 + expected) {
        finish(undefined, Buffer.concat(chunks).subarray(4, 4 + expected));
      }
    });
    socket.on("error", (error) => finish(error));
    socket.on("end", () => finish(new Error("the KDC closed the connection before replying")));
  });
}

/** Sends one request to the first KDC that answers; the reply is not decoded here. */
export async function exchangeWithKdc(
  kdcs: readonly KdcAddress[],
  request: Buffer,
  options: { realm: string; timeoutMs?: number },
): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const failures: string[] = [];
  for (const kdc of kdcs) {
    const transport = kdc.transport ?? "auto";
    const name = `${kdc.host}:${kdc.port}`;
    try {
      if (transport === "udp" || (transport === "auto" && request.length <= UDP_LIMIT)) {
        try {
          // In "auto" a silent UDP port (a firewall) is not the end: TCP is tried next, soon.
          const udpTimeout =
            transport === "udp" ? timeoutMs : Math.min(timeoutMs, UDP_AUTO_TIMEOUT_MS);
          const reply = await overUdp(kdc, request, udpTimeout);
          if (transport === "udp" || !isResponseTooBig(reply)) return reply;
        } catch (error) {
          if (transport === "udp") throw error;
        }
      }
      return await overTcp(kdc, request, timeoutMs);
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new KerberosError(
    "kdc-unreachable",
    kdcs.length === 0
      ? `no KDC is known for realm ${options.realm}: set the kdc option, add the realm to ` +
          `krb5.conf, or publish _kerberos._tcp.${options.realm.toLowerCase()} SRV records in DNS`
      : `no KDC of realm ${options.realm} answered (${failures.join("; ")}): check the kdc option ` +
          "or krb5.conf, and that TCP and UDP port 88 are open to the KDC",
  );
}
