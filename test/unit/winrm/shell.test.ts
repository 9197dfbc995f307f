/**
 * WinRS operations against responses in the shapes MS-WSMV 3.1.4 specifies: the requester here
 * answers each request with a response written from the specification, echoing its MessageID.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProtocolError, WSManFault } from "../../../provider/errors";
import { runInShell } from "../../../provider/winrm/winrs/command";
import { WinRSShell } from "../../../provider/winrm/winrs/shell";
import { type Requester, WSManSession } from "../../../provider/winrm/wsman";

const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
  'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" ' +
  'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"';
const DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
const RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

function envelope(relatesTo: string, body: string): string {
  return `<s:Envelope ${NS}><s:Header><a:RelatesTo>${relatesTo}</a:RelatesTo></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

/** Answers requests in order with the given bodies; records each request's action. */
function scripted(
  bodies: Array<string | ((request: string) => string)>,
): Requester & { actions: string[] } {
  const actions: string[] = [];
  return {
    actions,
    request(soap: Buffer) {
      const xml = soap.toString("utf8");
      const messageId = /<a:MessageID>([^<]+)<\/a:MessageID>/.exec(xml)?.[1] ?? "";
      actions.push(/<a:Action[^>]*>[^<]*\/([A-Za-z]+)<\/a:Action>/.exec(xml)?.[1] ?? "?");
      const next = bodies.shift();
      if (next === undefined) throw new Error("unexpected request");
      const body = typeof next === "function" ? next(xml) : next;
      const fault = body.includes("<s:Fault>");
      return Promise.resolve({
        statusCode: fault ? 500 : 200,
        soap: Buffer.from(envelope(messageId, body)),
      });
    },
  };
}

const settings = {
  to: "http://host:5985/wsman",
  operationTimeoutSeconds: 20,
  maxEnvelopeSize: 153600,
};
const CREATED =
  `<x:ResourceCreated><a:Address>http://host:5985/wsman</a:Address><a:ReferenceParameters>` +
  `<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>` +
  `<w:SelectorSet><w:Selector Name="ShellId">11111111-AAAA-BBBB-CCCC-000000000001</w:Selector></w:SelectorSet>` +
  `</a:ReferenceParameters></x:ResourceCreated>`;
const COMMAND = `<rsp:CommandResponse><rsp:CommandId>22222222-AAAA-BBBB-CCCC-000000000002</rsp:CommandId></rsp:CommandResponse>`;
const CID = "22222222-AAAA-BBBB-CCCC-000000000002";
const TIMED_OUT =
  `<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>` +
  `<s:Reason><s:Text>timed out</s:Text></s:Reason><s:Detail><f:WSManFault Code="2150858793" Machine="h"><f:Message>timed out</f:Message></f:WSManFault></s:Detail></s:Fault>`;

describe("WinRS shell operations (MS-WSMV 3.1.4)", () => {
  test("create reads the ShellId selector of ResourceCreated", async () => {
    const requester = scripted([CREATED]);
    const shell = await WinRSShell.create(new WSManSession(requester, settings), {
      environment: { A: "1" },
      workingDirectory: "C:\\x",
    });
    assert.equal(shell.id, "11111111-AAAA-BBBB-CCCC-000000000001");
    assert.deepEqual(requester.actions, ["Create"]);
  });

  test("Receive with several streams, then Running and Done states, in order", async () => {
    const requester = scripted([
      CREATED,
      COMMAND,
      `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="${CID}">${b64("hel")}</rsp:Stream>` +
        `<rsp:Stream Name="stderr" CommandId="${CID}">${b64("warn ")}</rsp:Stream>` +
        `<rsp:Stream Name="stdout" CommandId="${CID}">${b64("lo ")}</rsp:Stream>` +
        `<rsp:CommandState CommandId="${CID}" State="${RUNNING}"/></rsp:ReceiveResponse>`,
      TIMED_OUT,
      `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="${CID}">${b64("wörld")}</rsp:Stream>` +
        `<rsp:Stream Name="stdout" CommandId="${CID}" End="true"></rsp:Stream>` +
        `<rsp:Stream Name="stderr" CommandId="${CID}" End="true"></rsp:Stream>` +
        `<rsp:CommandState CommandId="${CID}" State="${DONE}"><rsp:ExitCode>255</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`,
    ]);
    const shell = await WinRSShell.create(new WSManSession(requester, settings));
    const seen: string[] = [];
    const result = await runInShell(
      shell,
      "cmd",
      ["/c", "x"],
      { onStdout: (chunk) => seen.push(chunk.toString()) },
      1000,
    );
    assert.equal(result.exitCode, 255);
    assert.equal(result.stdout.toString("utf8"), "hello wörld");
    assert.equal(result.stderr.toString("utf8"), "warn ");
    assert.deepEqual(seen, ["hel", "lo ", "wörld"]);
    assert.deepEqual(requester.actions, ["Create", "Command", "Receive", "Receive", "Receive"]);
  });

  test("several CommandState elements in one Receive response: Running, then Done, is Done", async () => {
    const requester = scripted([
      CREATED,
      COMMAND,
      `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="${CID}">${b64("all")}</rsp:Stream>` +
        `<rsp:CommandState CommandId="${CID}" State="${RUNNING}"/>` +
        `<rsp:CommandState CommandId="${CID}" State="${DONE}"><rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState>` +
        `</rsp:ReceiveResponse>`,
    ]);
    const shell = await WinRSShell.create(new WSManSession(requester, settings));
    const result = await runInShell(shell, "cmd", ["/c", "x"], {}, 1000);
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout.toString(), "all");
    assert.deepEqual(requester.actions, ["Create", "Command", "Receive"]);
  });

  test("Done without an ExitCode is not success: the exit code is unknown, and said so", async () => {
    const requester = scripted([
      CREATED,
      COMMAND,
      `<rsp:ReceiveResponse><rsp:CommandState CommandId="${CID}" State="${DONE}"/></rsp:ReceiveResponse>`,
    ]);
    const shell = await WinRSShell.create(new WSManSession(requester, settings));
    await assert.rejects(runInShell(shell, "cmd", ["/c", "x"], {}, 1000), (error: unknown) => {
      assert.ok(error instanceof ProtocolError, String(error));
      assert.match(error.message, /done without an exit code/);
      return true;
    });
  });

  test("text callbacks decode UTF-8 characters split across responses", async () => {
    const bytes = Buffer.from("aö€😀z", "utf8");
    const parts = [
      bytes.subarray(0, 2),
      bytes.subarray(2, 5),
      bytes.subarray(5, 8),
      bytes.subarray(8),
    ];
    const requester = scripted([
      CREATED,
      COMMAND,
      ...parts
        .slice(0, -1)
        .map(
          (part) =>
            `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="${CID}">${part.toString("base64")}</rsp:Stream>` +
            `<rsp:CommandState CommandId="${CID}" State="${RUNNING}"/></rsp:ReceiveResponse>`,
        ),
      `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="${CID}">${parts.at(-1)!.toString("base64")}</rsp:Stream>` +
        `<rsp:CommandState CommandId="${CID}" State="${DONE}"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`,
    ]);
    const shell = await WinRSShell.create(new WSManSession(requester, settings));
    const texts: string[] = [];
    await runInShell(shell, "x", [], { onStdoutText: (text) => texts.push(text) }, 1000);
    assert.equal(texts.join(""), "aö€😀z");
    assert.ok(
      texts.every((text) => !text.includes("\ufffd")),
      "no replacement characters",
    );
  });

  test("stdin goes out in chunks, the last one with End", async () => {
    const sends: string[] = [];
    const send = (xml: string) => {
      sends.push(xml);
      return `<rsp:SendResponse/>`;
    };
    const requester = scripted([
      CREATED,
      COMMAND,
      send,
      send,
      send,
      `<rsp:ReceiveResponse><rsp:CommandState CommandId="${CID}" State="${DONE}"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`,
    ]);
    const shell = await WinRSShell.create(new WSManSession(requester, settings));
    // A lone receive would race the sends; make the receive wait until stdin is complete.
    const original = shell.receive.bind(shell);
    shell.receive = async (id: string) => {
      while (sends.length < 3) await new Promise((resolve) => setTimeout(resolve, 1));
      return original(id);
    };
    const result = await runInShell(shell, "cat", [], { stdin: Buffer.from("abcdefghij") }, 4);
    assert.equal(result.exitCode, 0);
    const payloads = sends.map((xml) =>
      Buffer.from(/>([A-Za-z0-9+/=]*)<\/rsp:Stream>/.exec(xml)![1]!, "base64").toString(),
    );
    assert.deepEqual(payloads, ["abcd", "efgh", "ij"]);
    assert.deepEqual(
      sends.map((xml) => xml.includes('End="true"')),
      [false, false, true],
    );
  });

  test("a fault other than OperationTimeout is a WSManFault error", async () => {
    const requester = scripted([
      `<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code>` +
        `<s:Reason><s:Text>The shell was not found</s:Text></s:Reason><s:Detail><f:WSManFault Code="2150858843" Machine="h">` +
        `<f:Message>The request for the Windows Remote Shell with ShellId X failed because the shell was not found on the server.</f:Message>` +
        `</f:WSManFault></s:Detail></s:Fault>`,
    ]);
    await assert.rejects(
      WinRSShell.create(new WSManSession(requester, settings)),
      (error: unknown) => {
        assert.ok(error instanceof WSManFault);
        assert.equal(error.wsmanCode, 2150858843);
        assert.match(error.message, /shell was not found/);
        return true;
      },
    );
  });

  test("a fault that names another request in RelatesTo is not this request's answer", async () => {
    const requester: Requester = {
      request: () =>
        Promise.resolve({
          statusCode: 500,
          soap: Buffer.from(envelope("uuid:00000000-0000-0000-0000-000000000000", TIMED_OUT)),
        }),
    };
    await assert.rejects(
      WinRSShell.create(new WSManSession(requester, settings)),
      (error: unknown) => {
        assert.ok(error instanceof ProtocolError, String(error));
        assert.match(error.message, /RelatesTo .* does not answer request/);
        return true;
      },
    );
  });
});
