/**
 * A fault-injecting TCP proxy between a client and the loopback host, for the fault tier. It
 * forwards bytes both ways and, on command, does what a real network and a real host do to a
 * WinRM client: refuses connections (a host rebooting), resets or closes them, reaches another
 * host process on the same address (a restarted WinRM service), holds a reply back (a slow
 * host) or cuts one off.
 *
 * It reads just enough HTTP/1.1 to find where each request and reply ends (Content-Length,
 * which both the client and the loopback host always send) and counts messages as the host's
 * FaultController does: requests with a non-empty body, so that the empty POSTs of an
 * authentication handshake are never counted or cut. Loopback only.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

const LOOPBACK = "127.0.0.1";

/**
 * Where a message is cut. "before-request": the host never sees it. "drop-reply": the host
 * gets it and acts on it, and its reply is lost. "mid-reply": half of the reply arrives.
 * "after-reply": the reply arrives whole and the connection dies right after (a keep-alive
 * connection the next request will find dead).
 */
export type CutPoint = "before-request" | "drop-reply" | "mid-reply" | "after-reply";

/** A reset (RST, as from a host that went away) or a clean close (FIN, as from a server). */
export type CutKind = "reset" | "close";

interface MessageRule {
  /** The message number (of `messages`) this applies to. */
  at: number;
  cut?: { point: CutPoint; kind: CutKind };
  delayMs?: number;
}

/** One HTTP/1.1 message's bytes, whole, and whether it has a body. */
interface Framed {
  bytes: Buffer;
  hasBody: boolean;
}

/** Splits a byte stream into whole HTTP/1.1 messages framed by Content-Length. */
class HttpFramer {
  private buffered: Buffer = Buffer.alloc(0);

  /** Adds bytes and returns the messages they completed. */
  push(chunk: Buffer): Framed[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const messages: Framed[] = [];
    for (;;) {
      const headEnd = this.buffered.indexOf("\r\n\r\n");
      if (headEnd < 0) return messages;
      const head = this.buffered.subarray(0, headEnd).toString("latin1");
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
      const total = headEnd + 4 + length;
      if (this.buffered.length < total) return messages;
      messages.push({ bytes: this.buffered.subarray(0, total), hasBody: length > 0 });
      this.buffered = this.buffered.subarray(total);
    }
  }
}

/** One client connection and the upstream connection it is forwarded over. */
class Pair {
  private readonly requests = new HttpFramer();
  private readonly replies = new HttpFramer();
  /** What applies to each reply still to come, in order (one request in flight at a time). */
  private readonly pendingReplies: (MessageRule | undefined)[] = [];
  private replyChain: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(
    readonly downstream: Socket,
    readonly upstream: Socket,
    private readonly ruleFor: (hasBody: boolean) => MessageRule | undefined,
    private readonly onEnd: (pair: Pair) => void,
  ) {
    downstream.on("data", (chunk: Buffer) => this.fromClient(chunk));
    upstream.on("data", (chunk: Buffer) => this.fromHost(chunk));
    for (const socket of [downstream, upstream]) {
      socket.on("error", () => this.cut("reset"));
      socket.on("close", () => this.cut("close"));
    }
  }

  private fromClient(chunk: Buffer): void {
    for (const request of this.requests.push(chunk)) {
      const rule = this.ruleFor(request.hasBody);
      if (rule?.cut?.point === "before-request") {
        this.cut(rule.cut.kind);
        return;
      }
      this.pendingReplies.push(rule);
      this.upstream.write(request.bytes);
    }
  }

  private fromHost(chunk: Buffer): void {
    for (const reply of this.replies.push(chunk)) {
      const rule = this.pendingReplies.shift();
      // Replies leave in order, each after its own delay.
      this.replyChain = this.replyChain.then(() => this.deliver(reply.bytes, rule));
    }
  }

  private async deliver(bytes: Buffer, rule: MessageRule | undefined): Promise<void> {
    // Unref'd: a reply held past the end of a test must not keep the test's process alive.
    if (rule?.delayMs) await new Promise((resolve) => setTimeout(resolve, rule.delayMs).unref());
    if (this.ended) return;
    const cut = rule?.cut;
    if (cut?.point === "drop-reply") return this.cut(cut.kind);
    if (cut?.point === "mid-reply") {
      this.downstream.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () =>
        this.cut(cut.kind),
      );
      return;
    }
    this.downstream.write(bytes);
    if (cut?.point === "after-reply")
      this.downstream.write(Buffer.alloc(0), () => this.cut(cut.kind));
  }

  /** Ends both sides: with RST, or with FIN to the client and the host. */
  cut(kind: CutKind): void {
    if (this.ended) return;
    this.ended = true;
    for (const socket of [this.downstream, this.upstream]) {
      if (kind === "reset" && !socket.destroyed) socket.resetAndDestroy();
      else socket.end(() => socket.destroy());
    }
    this.onEnd(this);
  }
}

export class FaultProxy {
  /** Messages forwarded or cut so far (requests with a body). */
  messages = 0;
  /** Client connections accepted so far. */
  accepted = 0;
  private listener: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private rules: MessageRule[] = [];

  private constructor(
    private targetPort: number,
    private boundPort: number,
  ) {}

  /** A proxy on a free loopback port (or `port`), forwarding to the host on `targetPort`. */
  static async start(targetPort: number, port = 0): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetPort, port);
    await proxy.up();
    return proxy;
  }

  /** The port clients connect to: the same across down() and up(). */
  get port(): number {
    return this.boundPort;
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.pairs.size;
  }

  /**
   * The host goes away: every open connection is reset and new ones are refused, until up().
   */
  async down(kind: CutKind = "reset"): Promise<void> {
    // net.Server.close's callback waits for every accepted connection to end; the port itself
    // is released at once, which is all that refusing needs.
    this.listener?.close();
    this.listener = undefined;
    this.cutAll(kind);
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** The host answers again, on the same port; at `targetPort` when given (another process). */
  async up(targetPort = this.targetPort): Promise<void> {
    this.targetPort = targetPort;
    if (this.listener) return;
    const listener = createServer((downstream) => this.accept(downstream));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(this.boundPort, LOOPBACK, () => {
        listener.off("error", reject);
        const address = listener.address();
        if (address !== null && typeof address === "object") this.boundPort = address.port;
        resolve();
      });
    });
    this.listener = listener;
  }

  /** Cuts every open connection now, leaving the port open. */
  cutAll(kind: CutKind = "reset"): void {
    for (const pair of [...this.pairs]) pair.cut(kind);
  }

  /** Cuts the Nth message from now (1: the next) at `point`. */
  cutMessage(n: number, point: CutPoint, kind: CutKind = "reset"): void {
    this.rules.push({ at: this.messages + n, cut: { point, kind } });
  }

  /** Holds back the reply to the Nth message from now for `ms`. */
  delayReply(n: number, ms: number): void {
    this.rules.push({ at: this.messages + n, delayMs: ms });
  }

  /** Disarms every rule not yet applied. */
  reset(): void {
    this.rules = [];
  }

  async close(): Promise<void> {
    this.reset();
    await this.down();
  }

  private accept(downstream: Socket): void {
    this.accepted += 1;
    const upstream = connect(this.targetPort, LOOPBACK);
    // The client must not see the upstream's refusal as anything but a dropped connection.
    downstream.pause();
    upstream.once("connect", () => downstream.resume());
    const pair = new Pair(
      downstream,
      upstream,
      (hasBody) => this.ruleFor(hasBody),
      (ended) => this.pairs.delete(ended),
    );
    this.pairs.add(pair);
  }

  private ruleFor(hasBody: boolean): MessageRule | undefined {
    if (!hasBody) return undefined;
    this.messages += 1;
    const due = this.rules.filter((rule) => rule.at === this.messages);
    if (due.length === 0) return undefined;
    this.rules = this.rules.filter((rule) => rule.at !== this.messages);
    // A delay and a cut armed for the same message both apply: the reply waits, then is cut.
    return due.reduce((merged, rule) => ({ ...merged, ...rule }));
  }
}
