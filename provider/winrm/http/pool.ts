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

/** The functions that settle a promise. */
interface Resolvers<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** One request of a chain of follow-ups (Transport.sendFollowed). */
interface FollowedStep {
  sending: Promise<SoapReply>;
  settle: Resolvers<SoapReply>;
  /** Its reply's promise, until it is handed to the caller as the reply before's `next`. */
  promise?: Promise<SoapReply>;
  /** The request sent to follow it, once its reply asked for one. */
  next?: FollowedStep;
}

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

  /**
   * Sends a SOAP envelope; returns the reply envelope and its HTTP status, and with a
   * `followUp` the reply to the request that followed it on the same connection (`next`).
   */
  async request(soap: Buffer, options: RequestOptions): Promise<SoapReply> {
    const connection = await this.acquire(options.mayBlockOnHost === true, options.signal);
    if (options.mayBlockOnHost) {
      connection.blockedOnHost = true;
      // Callers already waiting may now open another connection instead.
      this.waiters.wakeAll();
    }
    if (options.waitsForOutput) connection.receiveSince = this.clock.now();
    const done = () => {
      connection.blockedOnHost = false;
      connection.receiveSince = undefined;
      this.release();
    };
    if (options.followUp !== undefined) {
      // The connection stays this caller's until the last request that followed has settled.
      // Only the resolving functions are kept meanwhile, never the promise (see sendFollowed).
      return new Promise<SoapReply>((resolve, reject) => {
        void connection
          .exclusive(() =>
            this.sendFollowed(connection, soap, options, { settle: { resolve, reject } }),
          )
          .finally(done);
      });
    }
    try {
      const outgoing: OutgoingRequest = { soap };
      return await connection.exclusive(() => this.sendWithRecovery(connection, outgoing, options));
    } finally {
      done();
    }
  }

  /**
   * Sends `soap` on `connection`, which this caller holds, settles `settle` with its reply,
   * and sends what `options.followUp` asks to follow it as soon as the reply is decrypted
   * (RequestOptions.followUp), and so on; resolves once the last of them has settled. Each
   * reply links to the next one's promise, so whatever holds a settled one holds all that
   * came after it: this loop keeps only the request at hand, and no resolving function of
   * one before it (they hold their promise even once called), or a chain of a thousand
   * Receives of a large output would keep every reply until the command ends (the memory
   * tier's 200 MB stdout test measures it). After a reply that failed, what
   * followed it is waited for and dropped (its caller has an error), and nothing more is
   * asked to follow.
   */
  private async sendFollowed(
    connection: Connection,
    soap: Buffer,
    options: RequestOptions,
    first: { settle?: Resolvers<SoapReply> },
  ): Promise<void> {
    // A resolving function holds its promise even once called, and a parameter lives as long
    // as this loop: the first reply's functions are taken out of their box.
    let settle = first.settle;
    first.settle = undefined;
    if (settle === undefined) return;
    let dropping = false;
    const start = (soap: Buffer, options: RequestOptions, settle: Resolvers<SoapReply>) => {
      const step: FollowedStep = { settle, sending: undefined as unknown as Promise<SoapReply> };
      step.sending = this.sendWithRecovery(connection, { soap }, options, (reply) => {
        const followUp = dropping ? undefined : options.followUp?.(reply);
        if (followUp === undefined) return false;
        if (followUp.options.waitsForOutput) connection.receiveSince = this.clock.now();
        this.followUpsSent++;
        let resolvers!: Resolvers<SoapReply>;
        const promise = new Promise<SoapReply>((resolve, reject) => {
          resolvers = { resolve, reject };
        });
        // Its caller may drop it (a command stopped): a failure must not go unhandled then.
        promise.catch(() => undefined);
        step.next = start(followUp.soap, followUp.options, resolvers);
        step.next.promise = promise;
        return true;
      });
      return step;
    };
    let step: FollowedStep | undefined = start(soap, options, settle);
    settle = undefined;
    while (step !== undefined) {
      try {
        const reply = await step.sending;
        // step.next was set meanwhile, when the reply asked for a follow-up.
        const nextReply = step.next?.promise;
        step.settle.resolve(nextReply === undefined ? reply : { ...reply, next: nextReply });
      } catch (error) {
        dropping = true;
        step.settle.reject(error);
      }
      step = step.next;
      if (step !== undefined) step.promise = undefined;
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
    peek?: (reply: SoapReply) => boolean,
  ): Promise<SoapReply> {
    const deadline = this.clock.now() + this.options.readyTimeoutMs;
    let delay = 250;
    let retriedAfterSend = false;
    let waiting = false;
    try {
      const abandon = options.abandonOnSignal ? options.signal : undefined;
      for (;;) {
        try {
          return await connection.send(outgoing, options.timeoutMs, abandon, peek);
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
  /** Requests sent as follow-ups (RequestOptions.followUp), for diagnostics and tests. */
  followUpsSent = 0;

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
