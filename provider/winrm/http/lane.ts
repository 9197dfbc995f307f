/**
 * A lane: a run of requests sent in order on one connection reserved for them, each sealed as
 * soon as it is asked for, while the one before it is still on the wire.
 *
 * One request at a time is in flight on a connection, and a sealed request must reach the host
 * in the order it was sealed in (the sequence number and the RC4 keystream of MS-NLMP 3.4.4.2
 * belong to the context). Sealing a request only when its turn comes makes the client and the
 * host take turns: an upload's Send was built and sealed while the host waited, and then
 * unsealed and written while the client waited (issue 15). In a lane the next Send is built
 * and sealed while the host works on the one before; nothing else is sealed on the connection
 * in between, because the pool lends a reserved connection to nobody else.
 *
 * A request behind one that failed (no reply, or a reply other than HTTP 200: a fault) is not
 * sent: its input would arrive with a gap.
 */
import { ConnectionLostError, clientClosedError } from "../../errors";
import type { Connection, OutgoingRequest } from "./connection";
import type { RequestOptions, SoapReply } from "./options";

/** What a lane needs of its pool. */
export interface LaneHost {
  /** A connection for this lane alone, authenticated when its first request goes. */
  reserve(signal: AbortSignal | undefined): Promise<Connection>;
  /** Sends on `connection`, with the pool's recoveries. */
  send(
    connection: Connection,
    outgoing: OutgoingRequest,
    options: RequestOptions,
  ): Promise<SoapReply>;
  /** Gives the connection back to the pool. */
  unreserve(connection: Connection): void;
}

export class Lane {
  private connection: Connection | undefined;
  /** The request asked for last: the next one is sealed right behind it. */
  private last: OutgoingRequest | undefined;
  /** Settles when every request asked for so far has. */
  private tail: Promise<unknown> = Promise.resolve();
  private failed = false;
  private closed = false;

  constructor(private readonly host: LaneHost) {}

  /** Sends `soap` after every request asked for before it; rejects if one of them failed. */
  request(soap: Buffer, options: RequestOptions): Promise<SoapReply> {
    if (this.closed) return Promise.reject(clientClosedError());
    const outgoing: OutgoingRequest = { soap };
    const after = this.last;
    this.last = outgoing;
    if (after !== undefined) this.connection?.sealAhead(outgoing, after);
    const turn = this.tail.then(() => this.send(outgoing, options));
    // A fault (HTTP 500, MS-WSMV 2.2.4.19) fails the request as surely as a dropped connection:
    // the host did not take that input, so nothing after it may go.
    const failed = () => {
      this.failed = true;
    };
    this.tail = turn.then((reply) => reply.statusCode !== 200 && failed(), failed);
    return turn;
  }

  private async send(outgoing: OutgoingRequest, options: RequestOptions): Promise<SoapReply> {
    if (this.failed) {
      throw new ConnectionLostError(
        "not sent: a request before it in the same input failed, and this one would have " +
          "arrived after a gap",
      );
    }
    this.connection ??= await this.host.reserve(options.signal);
    return this.host.send(this.connection, outgoing, options);
  }

  /**
   * No more requests: the connection goes back to the pool once those asked for have settled.
   * A request sealed ahead and never sent leaves the connection's context a step ahead of the
   * host; the connection notices and authenticates afresh before its next request.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.tail.then(() => {
      if (this.connection !== undefined) this.host.unreserve(this.connection);
      this.connection = undefined;
    });
  }
}
