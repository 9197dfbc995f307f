/**
 * A pool of authenticated connections to one endpoint for one identity, with the retries
 * that are safe: a request that never reached the host (still booting) until the ready
 * timeout, and an idempotent one once after a dropped connection or a forgotten context.
 *
 * Every handshake costs round trips and shows in the host's security log, so the pool keeps one
 * connection while requests pass through it quickly, and opens another (up to maxConnections)
 * as soon as waiting for the busy ones would stall or serialize work that could run at once:
 * when a Send is in flight (the host may hold it until the command reads its input, and what
 * lets the command go on may be the very Receive that is waiting), when a Send would wait (the
 * Receive in flight may be waiting for its input), when a Receive has been held longer than
 * HELD_RECEIVE_MS (a command is running a while: without another connection, the commands of
 * a host would take turns at it, and --parallel 32 would run two or three at once, issue 19),
 * or when a caller has waited longer than OPEN_ANOTHER_AFTER_MS.
 */
import {
  clientClosedError,
  ConnectionLostError,
  HostUnreachableError,
  WinRMError,
} from "../../errors";
import type { HttpAuthenticator } from "./authenticator";
import { basicAuthenticator } from "./basic";
import { Connection, type OutgoingRequest } from "./connection";
import { Lane } from "./lane";
import { errorCode, isConnectionFailure, NotSent, SessionExpired } from "./failures";
import { negotiateAuthenticator } from "./negotiate";
import type { RequestOptions, SoapReply, TransportOptions } from "./options";
import { validateSecurity } from "./security";
import { HostWait } from "./host-wait";
import { abortReason, type Clock, sleep, systemClock, WaitQueue } from "../wait-queue";

/** How long a caller waits for the busy connection(s) before the pool opens another. */
const OPEN_ANOTHER_AFTER_MS = 2000;
/**
 * A Receive held this long is a command still running, not one whose output is on its way:
 * the host answers a finished command's Receive at once (a few milliseconds on loopback, a
 * round trip on a network). Callers then open another connection instead of waiting for it.
 */
export const HELD_RECEIVE_MS = 50;

/** What an attempt that did not reach the host met, in a word or two. */
function reasonOf(cause: unknown): string {
  if (cause instanceof WinRMError) return cause.message;
  return errorCode(cause) ?? (cause instanceof Error ? cause.message : "unknown error");
}

/** The strategy for the configured scheme. */
function authenticatorFor(options: TransportOptions): HttpAuthenticator {
  return options.auth === "basic" ? basicAuthenticator(options) : negotiateAuthenticator(options);
}

/** A pool of authenticated connections to one endpoint, for one identity. */
export class Transport {
  private readonly connections: Connection[] = [];
  private readonly waiters: WaitQueue;
  private readonly clock: Clock;
  private readonly hostWait: HostWait;
  private closed = false;
  private readonly authenticator: HttpAuthenticator;

  constructor(readonly options: TransportOptions) {
    validateSecurity(options);
    this.authenticator = authenticatorFor(options);
    this.clock = options.clock ?? systemClock;
    this.waiters = new WaitQueue(this.clock);
    this.hostWait = new HostWait(
      this.clock,
      options.endpoint.host,
      options.readyTimeoutMs,
      options.onWaiting,
    );
  }

  /** Sends a SOAP envelope; returns the reply envelope and its HTTP status. */
  async request(soap: Buffer, options: RequestOptions): Promise<SoapReply> {
    const connection = await this.acquire(options.mayBlockOnHost === true, options.signal);
    if (options.mayBlockOnHost) {
      connection.blockedOnHost = true;
      // Callers already waiting may now open another connection instead.
      this.waiters.wakeAll();
    }
    if (options.waitsForOutput) connection.receiveSince = this.clock.now();
    try {
      const outgoing: OutgoingRequest = { soap };
      return await connection.exclusive(() => this.sendWithRecovery(connection, outgoing, options));
    } finally {
      connection.blockedOnHost = false;
      connection.receiveSince = undefined;
      this.release();
    }
  }

  /**
   * Sends on `connection`, recovering from what can be recovered: a request that never reached
   * the host authenticated is retried until the ready timeout (a host still booting); a dropped
   * connection or a forgotten context is retried once on a fresh handshake, but only for
   * idempotent requests.
   */
  private async sendWithRecovery(
    connection: Connection,
    outgoing: OutgoingRequest,
    options: RequestOptions,
  ): Promise<SoapReply> {
    const deadline = this.clock.now() + this.options.readyTimeoutMs;
    let delay = 250;
    let retriedAfterSend = false;
    let waiting = false;
    try {
      const abandon = options.abandonOnSignal ? options.signal : undefined;
      for (;;) {
        try {
          return await connection.send(outgoing, options.timeoutMs, abandon);
        } catch (error) {
          if (abandon?.aborted) throw abortReason(abandon);
          if (!(error instanceof NotSent)) {
            this.recoverAfterSend(error, options, retriedAfterSend);
            retriedAfterSend = true;
            continue;
          }
          // A request cut off by close() is not a host to wait for.
          if (this.closed) throw clientClosedError();
          if (this.clock.now() + delay > deadline) throw this.unreachable(error.cause);
          const reason = reasonOf(error.cause);
          if (waiting) this.hostWait.update(reason);
          else this.hostWait.enter(reason);
          waiting = true;
          await sleep(this.clock, delay, options.signal);
          delay = Math.min(delay * 2, 5000);
        }
      }
    } finally {
      if (waiting) this.hostWait.leave();
    }
  }

  /**
   * A run of requests that go in order on one connection of their own, each sealed while the
   * one before it is on the wire: a long input's Sends (see Lane).
   */
  lane(): Lane {
    return new Lane({
      reserve: async (signal) => {
        const connection = await this.acquire(true, signal);
        connection.reserved = true;
        // Callers waiting for a connection open another rather than wait for this one.
        this.waiters.wakeAll();
        return connection;
      },
      send: (connection, outgoing, options) =>
        connection.exclusive(() => this.sendWithRecovery(connection, outgoing, options)),
      unreserve: (connection) => {
        connection.reserved = false;
        this.release();
      },
    });
  }

  /**
   * Returns when a request that reached the host may be sent again after `error`, and throws
   * what to report when not.
   */
  private recoverAfterSend(error: unknown, options: RequestOptions, retriedAlready: boolean): void {
    // A 401 to a sealed request says the host no longer knows this connection's context
    // (a service restart) — or that someone between here and the host replaced its
    // answer: a bare 401 is not sealed, so it proves nothing about whether the host acted.
    // Only requests that are safe to repeat (Identify, Receive with its OperationID,
    // Signal, Delete) are repeated after one, as after a dropped connection.
    const expired = error instanceof SessionExpired;
    if (!expired && !isConnectionFailure(error)) throw error;
    if (!options.idempotent) {
      throw new ConnectionLostError(
        (expired
          ? "the host answered HTTP 401 to a request that must not run twice (a command or its input)"
          : "the connection to the host dropped while a request that must not run twice (a command or its input) was in flight") +
          "; it was not repeated, and the host may or may not have acted on it",
        { cause: expired ? undefined : error },
      );
    }
    if (retriedAlready) {
      throw new ConnectionLostError(
        expired
          ? "the host refused the request again after re-authenticating (HTTP 401)"
          : "the connection dropped again after re-authenticating",
        { cause: expired ? undefined : error },
      );
    }
  }

  private unreachable(cause: unknown): WinRMError {
    if (cause instanceof WinRMError) return cause;
    return HostUnreachableError.afterWaiting(
      this.options.endpoint,
      reasonOf(cause),
      this.options.readyTimeoutMs,
      { option: "readyTimeoutMs", unit: "ms" },
      cause,
    );
  }

  /**
   * An idle connection, a new one, or the next one released. `sending` (a Send of stdin) never
   * waits for a busy connection while another may be opened: the request holding it may be a
   * Receive of the same command, waiting for output that only this input lets it produce.
   */
  private async acquire(sending: boolean, signal: AbortSignal | undefined): Promise<Connection> {
    const waitingSince = this.clock.now();
    for (;;) {
      if (this.closed) throw clientClosedError();
      const idle = this.connections.find((connection) => !connection.busy);
      if (idle) return idle;
      const now = this.clock.now();
      const waited = now - waitingSince;
      const room = this.connections.length < this.options.maxConnections;
      const heldFor = this.longestHeldReceive(now);
      if (
        room &&
        (this.connections.length === 0 ||
          sending ||
          this.connections.some((connection) => connection.blockedOnHost || connection.reserved) ||
          heldFor >= HELD_RECEIVE_MS ||
          waited >= OPEN_ANOTHER_AFTER_MS)
      ) {
        const connection = new Connection(this.options, this.authenticator);
        this.connections.push(connection);
        return connection;
      }
      // Until a connection is released, or until it is time to open another: when the
      // Receive in flight has been held HELD_RECEIVE_MS, or this caller has waited long.
      const untilHeld = heldFor >= 0 ? HELD_RECEIVE_MS - heldFor : Infinity;
      await this.waiters.wait({
        timeoutMs: room ? Math.min(OPEN_ANOTHER_AFTER_MS - waited, untilHeld) : undefined,
        signal,
      });
    }
  }

  /** How long the longest-held Receive in flight has been held, in ms; -1 when none is. */
  private longestHeldReceive(now: number): number {
    let longest = -1;
    for (const connection of this.connections) {
      if (connection.receiveSince !== undefined) {
        longest = Math.max(longest, now - connection.receiveSince);
      }
    }
    return longest;
  }

  /** How many authenticated connections the pool holds (for tests and diagnostics). */
  get connectionCount(): number {
    return this.connections.length;
  }

  /** Requests sent as sealed while the one before them was on the wire (see Lane). */
  get sentSealedAhead(): number {
    return this.connections.reduce((sum, connection) => sum + connection.sentSealedAhead, 0);
  }

  /** How the last handshake authenticated (see HttpAuthenticator.mechanism). */
  get mechanism(): string | undefined {
    return this.authenticator.mechanism;
  }

  private release(): void {
    this.waiters.wakeOne();
  }

  /**
   * True when every connection is taken and requests are waiting for one: a Receive should
   * then wait only briefly for output, so that it does not hold a connection others need.
   */
  contended(): boolean {
    return this.waiters.length > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiters.wakeAll();
    await Promise.all(this.connections.map((connection) => connection.close()));
  }
}
