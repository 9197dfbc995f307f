/**
 * An attacker in the middle, on loopback: a TCP proxy between the client and the loopback host
 * that understands just enough HTTP/1.1 (Content-Length bodies, as both ends use) to hand each
 * reply of the host to a hook, which may pass it on or put something else in its place. It
 * cannot read sealed messages; it can drop, replace and forge, as anyone on a plain HTTP path can.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface HttpReply {
  /** The status line and headers, without the blank line. */
  head: string;
  statusCode: number;
  headers: Map<string, string>;
  body: Buffer;
  /** The exact bytes of the host's reply. */
  raw: Buffer;
}

/** What to send the client instead of a reply: its bytes, or "forward" for the real one. */
export type ReplyHook = (reply: HttpReply) => Buffer | "forward";

export interface Proxy {
  port: number;
  /** Replies seen so far, in order, across connections. */
  readonly replies: HttpReply[];
  /** The hook for every reply from now on (default: forward). */
  onReply: ReplyHook;
  close(): Promise<void>;
}

/** Bytes of an HTTP/1.1 response with a Content-Length body. */
export function httpResponse(
  statusCode: number,
  reason: string,
  headers: Record<string, string>,
  body: Buffer | string = Buffer.alloc(0),
): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const lines = [`HTTP/1.1 ${statusCode} ${reason}`];
  for (const [name, value] of Object.entries({
    ...headers,
    "Content-Length": String(bytes.length),
  })) {
    lines.push(`${name}: ${value}`);
  }
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), bytes]);
}

/** Splits complete HTTP messages (head + Content-Length body) off the front of `buffer`. */
function takeMessage(
  buffer: Buffer,
): { head: string; body: Buffer; raw: Buffer; rest: Buffer } | undefined {
  const end = buffer.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = buffer.subarray(0, end).toString("latin1");
  if (/^transfer-encoding:/im.test(head)) {
    throw new Error("the proxy handles Content-Length bodies only");
  }
  const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? "0");
  const total = end + 4 + length;
  if (buffer.length < total) return undefined;
  return {
    head,
    body: buffer.subarray(end + 4, total),
    raw: buffer.subarray(0, total),
    rest: buffer.subarray(total),
  };
}

function parseReply(message: { head: string; body: Buffer; raw: Buffer }): HttpReply {
  const [statusLine = "", ...lines] = message.head.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return {
    head: message.head,
    statusCode: Number(statusLine.split(" ")[1]),
    headers,
    body: Buffer.from(message.body),
    raw: Buffer.from(message.raw),
  };
}

export async function startProxy(upstreamPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const proxy: Proxy = {
    port: 0,
    replies: [],
    onReply: () => "forward",
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    let pending: Buffer = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      pending = Buffer.from(Buffer.concat([pending, chunk]));
      for (let message = takeMessage(pending); message; message = takeMessage(pending)) {
        pending = message.rest;
        const reply = parseReply(message);
        proxy.replies.push(reply);
        const decision = proxy.onReply(reply);
        client.write(decision === "forward" ? reply.raw : decision);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  proxy.port = address.port;
  return proxy;
}
