/**
 * What the loopback host did, in order, for tests to read: who authenticated, which shells and
 * commands ran with which command lines and exit codes, which requests were refused and which
 * faults were injected. End-to-end tests use it to prove, for example, that a second
 * `pulumi up` ran nothing, or that fifty resources shared one authenticated connection.
 */

export const LogKind = Object.freeze({
  AUTHENTICATED: "authenticated",
  AUTHENTICATION_FAILED: "authentication-failed",
  SHELL_CREATED: "shell-created",
  SHELL_DELETED: "shell-deleted",
  COMMAND_STARTED: "command-started",
  COMMAND_EXITED: "command-exited",
  SIGNAL: "signal",
  FAULT: "fault",
  FAULT_INJECTED: "fault-injected",
  REQUEST_REFUSED: "request-refused",
} as const);
export type LogKind = (typeof LogKind)[keyof typeof LogKind];

export interface LogEntry {
  /** Milliseconds since the epoch. */
  timestamp: number;
  kind: LogKind;
  /** The authenticated user as the client named it (`DOMAIN\user` or `user`). */
  user?: string;
  shellId?: string;
  commandId?: string;
  /** The command line as the host ran it: rsp:Command, a space, then the rsp:Arguments. */
  commandLine?: string;
  /**
   * How the command's stdin was set up (WINRS_CONSOLEMODE_STDIN): "console" (TRUE, also when
   * absent) or "pipe" (FALSE). Clients that feed stdin ask for a pipe, as Ansible does.
   */
  stdinMode?: "console" | "pipe";
  exitCode?: number;
  /** Signal code URI, HTTP status, fault subcode, authentication scheme... */
  detail?: string;
  /** The TCP connection the event belongs to (1, 2, ...), to tell connections apart. */
  connection?: number;
}

export interface LogCounters {
  /** Successful handshakes (Negotiate) and first successful Basic requests per connection. */
  authentications: number;
  authenticationFailures: number;
  shellsCreated: number;
  shellsDeleted: number;
  commandsRun: number;
  commandsExited: number;
  signals: number;
  /** WS-Management faults the host sent (injected ones included). */
  faults: number;
  faultsInjected: number;
  requestsRefused: number;
  /** TCP connections accepted. */
  connections: number;
  /** HTTP requests received. */
  requests: number;
  /** WS-Management messages that arrived sealed (MS-WSMV 2.2.9.1) and verified. */
  sealedMessages: number;
  /** WS-Management messages that arrived in plaintext and were served (TLS, Basic...). */
  plaintextMessages: number;
  /** Largest SOAP envelope (before encryption) the host sent, in bytes. */
  largestResponseEnvelope: number;
}

function zeroCounters(): LogCounters {
  return {
    authentications: 0,
    authenticationFailures: 0,
    shellsCreated: 0,
    shellsDeleted: 0,
    commandsRun: 0,
    commandsExited: 0,
    signals: 0,
    faults: 0,
    faultsInjected: 0,
    requestsRefused: 0,
    connections: 0,
    requests: 0,
    sealedMessages: 0,
    plaintextMessages: 0,
    largestResponseEnvelope: 0,
  };
}

const COUNTED: Partial<Record<LogKind, keyof LogCounters>> = {
  [LogKind.AUTHENTICATED]: "authentications",
  [LogKind.AUTHENTICATION_FAILED]: "authenticationFailures",
  [LogKind.SHELL_CREATED]: "shellsCreated",
  [LogKind.SHELL_DELETED]: "shellsDeleted",
  [LogKind.COMMAND_STARTED]: "commandsRun",
  [LogKind.COMMAND_EXITED]: "commandsExited",
  [LogKind.SIGNAL]: "signals",
  [LogKind.FAULT]: "faults",
  [LogKind.FAULT_INJECTED]: "faultsInjected",
  [LogKind.REQUEST_REFUSED]: "requestsRefused",
};

/** Entries kept; older ones are dropped so that a long-running demo host stays bounded. */
const MAX_ENTRIES = 100_000;

export class ExecutionLog {
  private list: LogEntry[] = [];
  private counts: LogCounters = zeroCounters();

  /** A copy of the entries, oldest first, optionally only those of one kind. */
  entries(kind?: LogKind): LogEntry[] {
    return this.list.filter((entry) => kind === undefined || entry.kind === kind);
  }

  /** A snapshot of the counters. */
  get counters(): LogCounters {
    return { ...this.counts };
  }

  /** Forgets every entry and zeroes every counter. */
  clear(): void {
    this.list = [];
    this.counts = zeroCounters();
  }

  record(kind: LogKind, fields: Omit<LogEntry, "timestamp" | "kind"> = {}): LogEntry {
    const entry: LogEntry = { timestamp: Date.now(), kind, ...fields };
    this.list.push(entry);
    if (this.list.length > MAX_ENTRIES) this.list.splice(0, this.list.length - MAX_ENTRIES);
    const counter = COUNTED[kind];
    if (counter !== undefined) this.counts[counter] += 1;
    return entry;
  }

  /** Counts something that is not an entry of its own (connections, requests). */
  count(counter: "connections" | "requests" | "sealedMessages" | "plaintextMessages"): void {
    this.counts[counter] += 1;
  }

  noteResponseEnvelope(bytes: number): void {
    if (bytes > this.counts.largestResponseEnvelope) this.counts.largestResponseEnvelope = bytes;
  }
}
