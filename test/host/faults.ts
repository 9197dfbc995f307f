/**
 * Fault injection switches for the loopback host, settable at any time by the client's and the
 * resources' tests: a dropped TCP connection, a truncated response, a slow host, an HTTP error
 * status, a WS-Management fault, a host that forgot its security contexts (a service restart),
 * and a host still booting (connections refused).
 *
 * Counting rule: "the Nth request" counts requests that carry a WS-Management message (a
 * non-empty body), starting after the switch is set, so that N = 1 is the next message. The
 * empty-body POSTs of an authentication handshake are never counted and never faulted, since a
 * client cannot know how many legs a handshake takes.
 */

/** A WS-Management fault to answer with, as WS-Management 14.6 / MS-WSMV 2.2.4.17 shape it. */
export interface InjectedFault {
  /** The WSManFault Code, e.g. 2150858793 (OperationTimeout). */
  code: number;
  /** The SOAP subcode, e.g. "w:TimedOut"; default "w:InternalError". */
  subcode?: string;
  message: string;
}

/** What the host must do with the current message instead of serving it. */
export type MessageFault =
  { kind: "drop" } | { kind: "status"; status: number } | { kind: "fault"; fault: InjectedFault };

interface Armed<T> {
  /** The message number (of `messages`) this applies to. */
  at: number;
  value: T;
}

export class FaultController {
  private messages = 0;
  private drops: Armed<null>[] = [];
  private statuses: Armed<number>[] = [];
  private faults: Armed<InjectedFault>[] = [];
  private cutAfter: number | undefined;
  private delayMs = 0;
  private epoch = 0;
  private refuseUntil = 0;
  private closeOnRefusedLogin = false;

  /** @param refuse called by refuseConnectionsFor: the host stops listening for `ms`. */
  constructor(private readonly refuse: (ms: number) => void = () => {}) {}

  /** Destroys the TCP connection, with no response, when the Nth message arrives. */
  dropConnectionOnRequest(n: number): void {
    this.drops.push({ at: this.messages + positive(n, "n"), value: null });
  }

  /** The next message's response is cut after `bytes` bytes (status line and headers count). */
  dropConnectionAfterResponseBytes(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError("bytes must be >= 0");
    this.cutAfter = bytes;
  }

  /** Every message's response waits `ms` first, until reset (0 turns it off). */
  delayResponses(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError("ms must be >= 0");
    this.delayMs = ms;
  }

  /** The Nth message is answered with this HTTP status and an empty body, unserved. */
  respondWithStatus(nthRequest: number, status: number): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError("status must be an HTTP status code");
    }
    this.statuses.push({ at: this.messages + positive(nthRequest, "nthRequest"), value: status });
  }

  /** The Nth message is answered with this WS-Management fault (HTTP 500), unserved. */
  respondWithFault(nthRequest: number, fault: InjectedFault): void {
    this.faults.push({ at: this.messages + positive(nthRequest, "nthRequest"), value: fault });
  }

  /**
   * Every established security context is forgotten at once, as when the WinRM service
   * restarts behind a keep-alive connection: the next message on any of them gets 401 and the
   * client must authenticate again.
   */
  forgetSecurityContexts(): void {
    this.epoch += 1;
  }

  /**
   * A refused login (credentials the host cannot verify) closes the TCP connection instead of
   * answering 401, as some WS-Management servers do, until reset.
   */
  closeConnectionOnRefusedLogin(): void {
    this.closeOnRefusedLogin = true;
  }

  /** Connections are refused (the port is closed) for `ms`, like a host still booting. */
  refuseConnectionsFor(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError("ms must be >= 0");
    this.refuseUntil = Date.now() + ms;
    this.refuse(ms);
  }

  /** Disarms every switch (a refusal window already running ends when it ends). */
  reset(): void {
    this.drops = [];
    this.statuses = [];
    this.faults = [];
    this.cutAfter = undefined;
    this.delayMs = 0;
    this.closeOnRefusedLogin = false;
  }

  // -- used by the host ------------------------------------------------------------------------

  /** Counts one arriving message and says which armed switch, if any, it triggers. */
  nextMessage(): MessageFault | undefined {
    this.messages += 1;
    const n = this.messages;
    const take = <T>(list: Armed<T>[]): Armed<T> | undefined => {
      const index = list.findIndex((armed) => armed.at === n);
      return index < 0 ? undefined : list.splice(index, 1)[0];
    };
    if (take(this.drops)) return { kind: "drop" };
    const status = take(this.statuses);
    if (status) return { kind: "status", status: status.value };
    const fault = take(this.faults);
    if (fault) return { kind: "fault", fault: fault.value };
    return undefined;
  }

  /** The armed response cut, consumed by the response it applies to. */
  takeResponseCut(): number | undefined {
    const cut = this.cutAfter;
    this.cutAfter = undefined;
    return cut;
  }

  get responseDelayMs(): number {
    return this.delayMs;
  }

  /** Contexts established under an older epoch have been forgotten. */
  get contextEpoch(): number {
    return this.epoch;
  }

  get closesConnectionOnRefusedLogin(): boolean {
    return this.closeOnRefusedLogin;
  }

  get refusingConnections(): boolean {
    return Date.now() < this.refuseUntil;
  }
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be an integer >= 1`);
  return n;
}
