// Test helpers for driving the loopback host byte by byte: a raw HTTP/1.1 connection on one
// socket (so a test knows exactly which TCP connection a security context belongs to, and can
// see truncated responses), a handshake with our own initiator, and WS-Management envelopes.
// This is not a WinRM client; the real one lives in provider/winrm.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { createInitiator, type SecurityContext } from "../../../provider/auth/context";
import { tlsServerEndPoint } from "../../../provider/auth/channel-bindings";
import {
  decryptMessage,
  ENCRYPTED_CONTENT_TYPE,
  encryptMessage,
  isEncryptedContentType,
} from "../../../provider/winrm/http/encryption";
import type { Host } from "../../host";
import { escapeXml } from "../../host/wsman";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The connection closed before a whole response arrived; `received` holds what did. */
export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
  constructor(readonly received: Buffer) {
    super(`connection closed after ${received.length} bytes of the response`);
  }
}

/** One TCP (or TLS) connection speaking HTTP/1.1, one request at a time. */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: RawResponse) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  peerCertificateDer: Buffer | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.tryParse();
    });
    socket.on("close", () => {
      this.ended = true;
      this.waiting?.reject(new ConnectionClosedError(this.buffer));
      this.waiting = undefined;
    });
    socket.on("error", () => {});
  }

  static open(port: number, tls?: { ca: string }): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = tls
        ? tlsConnect({ host: "127.0.0.1", port, ca: tls.ca, servername: "localhost" })
        : netConnect({ host: "127.0.0.1", port });
      socket.once(tls ? "secureConnect" : "connect", () => {
        socket.off("error", reject);
        const connection = new RawConnection(socket);
        if (tls && "getPeerCertificate" in socket) {
          connection.peerCertificateDer = socket.getPeerCertificate().raw;
        }
        resolve(connection);
      });
      socket.once("error", reject);
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  /** POST /wsman with the given headers and body. */
  post(body: Buffer | string, headers: Record<string, string> = {}): Promise<RawResponse> {
    const payload = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    const lines = [
      "POST /wsman HTTP/1.1",
      "Host: 127.0.0.1",
      "Connection: keep-alive",
      `Content-Length: ${payload.length}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    return this.send(
      Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), payload]),
    );
  }

  send(raw: Buffer): Promise<RawResponse> {
    if (this.waiting) throw new Error("one request at a time");
    if (this.ended) return Promise.reject(new ConnectionClosedError(Buffer.alloc(0)));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(raw);
    });
  }

  private tryParse(): void {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0 || !this.waiting) return;
    const head = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? "")?.[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"] ?? "0");
    if (this.buffer.length < end + 4 + length) return;
    const body = Buffer.from(this.buffer.subarray(end + 4, end + 4 + length));
    this.buffer = this.buffer.subarray(end + 4 + length);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting.resolve({ status, headers, body });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface SessionOptions {
  protocol?: "ntlm" | "negotiate";
  user?: string;
  password?: string;
  /** HTTPS: trust this CA; channel bindings come from the certificate the server presented. */
  ca?: string;
  /** Send channel bindings over TLS (default true). */
  channelBindings?: boolean;
}

/** A connection authenticated with our initiator, sending sealed WS-Management messages. */
export class TestSession {
  private constructor(
    readonly connection: RawConnection,
    readonly context: SecurityContext,
    /** The response that completed the handshake. */
    readonly completion: RawResponse,
  ) {}

  static async connect(
    host: Pick<Host, "port" | "user" | "password">,
    options: SessionOptions = {},
  ): Promise<TestSession> {
    const connection = await RawConnection.open(
      host.port,
      options.ca ? { ca: options.ca } : undefined,
    );
    const certificate = connection.peerCertificateDer;
    const context = createInitiator({
      protocol: options.protocol ?? "negotiate",
      user: options.user ?? host.user,
      secret: { password: options.password ?? host.password },
      channelBindings:
        certificate && options.channelBindings !== false
          ? tlsServerEndPoint(certificate)
          : undefined,
    });
    const response = await handshake(connection, context);
    if (!context.complete) {
      connection.close();
      throw new Error(`handshake failed with HTTP ${response.status}`);
    }
    return new TestSession(connection, context, response);
  }

  /** Seals and posts an envelope; returns the status and the unsealed response. */
  async soap(xml: string): Promise<{ status: number; xml: string; sealed: boolean }> {
    const response = await this.connection.post(
      encryptMessage(this.context, Buffer.from(xml, "utf8")),
      {
        "Content-Type": ENCRYPTED_CONTENT_TYPE,
      },
    );
    const sealed = isEncryptedContentType(response.headers["content-type"]);
    const text = sealed
      ? decryptMessage(this.context, response.body).toString("utf8")
      : response.body.toString("utf8");
    return { status: response.status, xml: text, sealed };
  }

  close(): void {
    this.connection.close();
  }
}

/**
 * Runs the HTTP Negotiate handshake on `connection` with empty-body POSTs, as pywinrm and our
 * client do, feeding the final WWW-Authenticate token back to the initiator. Returns the last
 * response.
 */
export async function handshake(
  connection: RawConnection,
  context: SecurityContext,
): Promise<RawResponse> {
  let token = await context.step();
  for (;;) {
    const response = await connection.post(Buffer.alloc(0), {
      Authorization: `Negotiate ${token!.toString("base64")}`,
    });
    const header = /^Negotiate\s+(\S+)/i.exec(response.headers["www-authenticate"] ?? "");
    if (response.status === 401 && header) {
      token = await context.step(Buffer.from(header[1]!, "base64"));
      continue;
    }
    if (response.status === 200 && header) await context.step(Buffer.from(header[1]!, "base64"));
    return response;
  }
}

// ---------------------------------------------------------------------------------------------
// Envelopes (WS-Management SOAP 1.2, as MS-WSMV 3.1.4 shapes the WinRS requests)

export const SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
export const ACTIONS = {
  create: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
  delete: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
  command: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
  send: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send",
  receive: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
  signal: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
} as const;

export interface EnvelopeOptions {
  action: string;
  resourceUri?: string;
  shellId?: string;
  messageId?: string;
  maxEnvelopeSize?: number;
  operationTimeout?: string;
  options?: Record<string, string>;
  body?: string;
}

export function envelope(options: EnvelopeOptions): string {
  const selector = options.shellId
    ? `<w:SelectorSet><w:Selector Name="ShellId">${options.shellId}</w:Selector></w:SelectorSet>`
    : "";
  const optionSet = options.options
    ? `<w:OptionSet>${Object.entries(options.options)
        .map(([name, value]) => `<w:Option Name="${name}">${value}</w:Option>`)
        .join("")}</w:OptionSet>`
    : "";
  return (
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"` +
    ` xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
    `<s:Header><a:To>http://127.0.0.1/wsman</a:To>` +
    `<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
    `<a:Action s:mustUnderstand="true">${options.action}</a:Action>` +
    `<w:MaxEnvelopeSize s:mustUnderstand="true">${options.maxEnvelopeSize ?? 153600}</w:MaxEnvelopeSize>` +
    `<a:MessageID>${options.messageId ?? `uuid:${randomUUID()}`}</a:MessageID>` +
    `<w:OperationTimeout>${options.operationTimeout ?? "PT20S"}</w:OperationTimeout>` +
    `<w:ResourceURI s:mustUnderstand="true">${options.resourceUri ?? SHELL_URI}</w:ResourceURI>` +
    `${selector}${optionSet}</s:Header><s:Body>${options.body ?? ""}</s:Body></s:Envelope>`
  );
}

export const IDENTIFY =
  `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">` +
  `<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`;

/** The text of the first element with this local name (any prefix). */
export function element(xml: string, localName: string): string | undefined {
  const match = new RegExp(
    `<(?:\\w+:)?${localName}(?:\\s[^>]*)?>([^<]*)</(?:\\w+:)?${localName}>`,
  ).exec(xml);
  return match?.[1];
}

/** An attribute of the first element with this local name. */
export function attributeOf(xml: string, localName: string, attribute: string): string | undefined {
  const tag = new RegExp(`<(?:\\w+:)?${localName}\\s[^>]*?\\b${attribute}="([^"]*)"`).exec(xml);
  return tag?.[1];
}

/** A session's shell, commands and output, to keep tests short. */
export class ShellDriver {
  constructor(
    readonly session: TestSession,
    readonly shellId: string,
  ) {}

  /** `chosenId`: the client's own name for the shell (the ShellId attribute of rsp:Shell). */
  static async create(session: TestSession, body = "", chosenId?: string): Promise<ShellDriver> {
    const named = chosenId === undefined ? "" : ` ShellId="${escapeXml(chosenId)}"`;
    const response = await session.soap(
      envelope({
        action: ACTIONS.create,
        options: { WINRS_CODEPAGE: "65001" },
        body: `<rsp:Shell${named}><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>${body}</rsp:Shell>`,
      }),
    );
    const shellId = element(response.xml, "ShellId");
    if (response.status !== 200 || !shellId) throw new Error(`Create failed: ${response.xml}`);
    return new ShellDriver(session, shellId);
  }

  async command(
    command: string,
    args: string[] = [],
    options: Record<string, string> = {},
  ): Promise<string> {
    const argumentsXml = args
      .map((arg) => `<rsp:Arguments>${escapeXml(arg)}</rsp:Arguments>`)
      .join("");
    const response = await this.session.soap(
      envelope({
        action: ACTIONS.command,
        shellId: this.shellId,
        options,
        body: `<rsp:CommandLine><rsp:Command>${escapeXml(command)}</rsp:Command>${argumentsXml}</rsp:CommandLine>`,
      }),
    );
    const id = element(response.xml, "CommandId");
    if (response.status !== 200 || !id) throw new Error(`Command failed: ${response.xml}`);
    return id;
  }

  receive(commandId: string, extra: Partial<EnvelopeOptions> = {}) {
    return this.session.soap(
      envelope({
        action: ACTIONS.receive,
        shellId: this.shellId,
        body: `<rsp:Receive><rsp:DesiredStream CommandId="${commandId}">stdout stderr</rsp:DesiredStream></rsp:Receive>`,
        ...extra,
      }),
    );
  }

  signal(commandId: string, code: "terminate" | "ctrl_c") {
    return this.session.soap(
      envelope({
        action: ACTIONS.signal,
        shellId: this.shellId,
        body: `<rsp:Signal CommandId="${commandId}"><rsp:Code>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/${code}</rsp:Code></rsp:Signal>`,
      }),
    );
  }

  send(commandId: string, data: Buffer, end: boolean) {
    return this.session.soap(
      envelope({
        action: ACTIONS.send,
        shellId: this.shellId,
        body: `<rsp:Send><rsp:Stream Name="stdin" CommandId="${commandId}"${end ? ' End="true"' : ""}>${data.toString("base64")}</rsp:Stream></rsp:Send>`,
      }),
    );
  }

  delete() {
    return this.session.soap(envelope({ action: ACTIONS.delete, shellId: this.shellId }));
  }

  /** Receives until Done; returns the decoded streams, exit code and the response sizes. */
  async collect(commandId: string, extra: Partial<EnvelopeOptions> = {}) {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const sizes: number[] = [];
    for (;;) {
      const response = await this.receive(commandId, extra);
      if (response.status !== 200) {
        if (element(response.xml, "Value")?.includes("Receiver") && /TimedOut/.test(response.xml))
          continue;
        throw new Error(`Receive failed: ${response.xml}`);
      }
      sizes.push(Buffer.byteLength(response.xml));
      for (const match of response.xml.matchAll(
        /<rsp:Stream Name="(stdout|stderr)"[^>]*>([^<]*)<\/rsp:Stream>/g,
      )) {
        (match[1] === "stdout" ? stdout : stderr).push(Buffer.from(match[2]!, "base64"));
      }
      if (/CommandState\/Done/.test(response.xml)) {
        return {
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
          exitCode: Number(element(response.xml, "ExitCode")),
          sizes,
        };
      }
    }
  }
}

/** Whether a process exists and is not a zombie waiting to be reaped by a lazy init. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no procfs: signal 0 is all we know
  }
}

export { waitFor } from "../../support/wait";
