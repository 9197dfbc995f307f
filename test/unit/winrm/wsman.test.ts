/**
 * Responses in the shapes MS-WSMV and DSP0226 specify (and Windows sends), written here from
 * the specification, parsed by the client's envelope code.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { ProtocolError, WSManFault } from "../../../provider/errors";
import {
  Action,
  buildEnvelope,
  checkRelatesTo,
  child,
  escapeXml,
  formatDuration,
  children,
  messageWithPayload,
  PAYLOAD_PLACE,
  parseEnvelope,
  parseFault,
  streamBytes,
  text,
  WSManFaultCode,
} from "../../../provider/winrm/wsman";

const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
  'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"';

/** MS-WSMV 2.2.4.44 WSManFault inside a SOAP 1.2 Fault, as a Receive that timed out gets it. */
const OPERATION_TIMEOUT_FAULT =
  `<s:Envelope xml:lang="en-US" ${NS}><s:Header>` +
  `<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action>` +
  `<a:MessageID>uuid:6F2B7F0E-0000-4000-8000-000000000001</a:MessageID>` +
  `<a:RelatesTo>uuid:11111111-2222-3333-4444-555555555555</a:RelatesTo></s:Header>` +
  `<s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>` +
  `<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason>` +
  `<s:Detail><f:WSManFault Code="2150858793" Machine="WIN-HOST"><f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </f:Message></f:WSManFault></s:Detail>` +
  `</s:Fault></s:Body></s:Envelope>`;

/** A fault whose message nests a ProviderFault, with non-ASCII text. */
const NESTED_FAULT =
  `<s:Envelope ${NS}><s:Header/><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value>` +
  `<s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="de-DE">Ungültig</s:Text></s:Reason>` +
  `<s:Detail><f:WSManFault Code="2150858843" Machine="serveur-été"><f:Message><f:ProviderFault provider="Shell cmd plugin">` +
  `Die Shell wurde nicht gefunden: « ü »</f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`;

describe("WS-Management envelopes (DSP0226, MS-WSMV 2.2.4)", () => {
  test("a request carries the headers Windows requires", () => {
    const envelope = buildEnvelope({
      action: Action.COMMAND,
      to: "http://host:5985/wsman",
      selectors: { ShellId: "ABC" },
      options: { WINRS_SKIP_CMD_SHELL: "FALSE" },
      operationTimeoutSeconds: 20,
      maxEnvelopeSize: 512000,
      body: "<rsp:CommandLine/>",
    });
    assert.match(envelope.messageId, /^uuid:[0-9A-F-]{36}$/);
    const { header, body } = parseEnvelope(envelope.xml);
    assert.equal((header.Action as { "#text": string })["#text"], Action.COMMAND);
    assert.equal((header.MessageID as string) ?? "", envelope.messageId);
    assert.equal((header.OperationTimeout as string) ?? "", "PT20S");
    assert.ok("CommandLine" in body);
    assert.match(envelope.xml, /<w:Selector Name="ShellId">ABC<\/w:Selector>/);
    assert.match(envelope.xml, /<w:Option Name="WINRS_SKIP_CMD_SHELL">FALSE<\/w:Option>/);
    assert.match(
      envelope.xml,
      /<w:MaxEnvelopeSize s:mustUnderstand="true">512000<\/w:MaxEnvelopeSize>/,
    );
  });

  test("OperationTimeout is an xs:duration, in milliseconds when fractional", () => {
    assert.equal(formatDuration(20), "PT20S");
    assert.equal(formatDuration(0.1), "PT0.100S");
    assert.equal(formatDuration(0.4), "PT0.400S");
  });

  test("text and attribute values are escaped", () => {
    const envelope = buildEnvelope({
      action: Action.CREATE,
      to: "http://host/wsman?a=1&b=<2>",
      selectors: { 'Na"me': "v<&>" },
      operationTimeoutSeconds: 1,
      maxEnvelopeSize: 1000,
      body: "",
    });
    assert.doesNotThrow(() => parseEnvelope(envelope.xml));
    assert.ok(!envelope.xml.includes("b=<2>"));
  });

  test("CR, LF and tab travel as character references, so a parser cannot normalise them", () => {
    // XML 1.0 2.11: a parser turns CR and CRLF into LF; 3.3.3: CR, LF, tab in attributes into
    // spaces. A path "a\r\nb" must reach the host as written, not as "a\nb" or "a  b".
    const value = "C:\\dir\r\nwith\tall\rthree";
    assert.equal(escapeXml(value), "C:\\dir&#13;&#10;with&#9;all&#13;three");
    const envelope = buildEnvelope({
      action: Action.CREATE,
      to: "http://host/wsman",
      selectors: { Name: value },
      operationTimeoutSeconds: 1,
      maxEnvelopeSize: 1000,
      body: `<x:Path xmlns:x="urn:x">${escapeXml(value)}</x:Path>`,
    });
    assert.ok(!/[\r\t]/.test(envelope.xml), "no raw CR or tab in the envelope");
    const { header, body } = parseEnvelope(envelope.xml);
    assert.equal(text(child(body, "Path")), value);
    assert.match(JSON.stringify(header), /C:\\\\dir\\r\\nwith\\tall\\rthree/);
  });

  test("OperationTimeout fault: code, subcode, machine and message", () => {
    const fault = parseFault(parseEnvelope(OPERATION_TIMEOUT_FAULT).body);
    assert.ok(fault instanceof WSManFault);
    assert.equal(fault.wsmanCode, WSManFaultCode.OPERATION_TIMEOUT);
    assert.equal(fault.subcode, "w:TimedOut");
    assert.equal(fault.machine, "WIN-HOST");
    assert.match(fault.message, /OperationTimeout/);
  });

  test("a nested ProviderFault with non-ASCII text keeps its message", () => {
    const fault = parseFault(parseEnvelope(NESTED_FAULT).body);
    assert.equal(fault?.wsmanCode, 2150858843);
    assert.equal(fault?.machine, "serveur-été");
    assert.equal(fault?.reason, "Die Shell wurde nicht gefunden: « ü »");
    assert.equal(fault?.subcode, "w:InvalidSelectors");
  });

  test("fault text: f:Message's own text, trimmed, is the sentence; what nests in it is detail", () => {
    // As Windows words an access failure: its own text, then an inner fault with the cause.
    const fault = parseFault(
      parseEnvelope(
        `<s:Envelope ${NS}><s:Header/><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value>` +
          `<s:Subcode><s:Value>w:AccessDenied</s:Value></s:Subcode></s:Code>` +
          `<s:Reason><s:Text xml:lang="en-US">Access is denied. </s:Text></s:Reason><s:Detail>` +
          `<f:WSManFault Code="5" Machine="WIN-HOST"><f:Message>\r\n   The WS-Management service cannot process the request.  ` +
          `<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">` +
          `<f:WSManFault Code="5" Machine="WIN-HOST"><f:Message>Access is denied. </f:Message></f:WSManFault>` +
          `</f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`,
      ).body,
    );
    assert.equal(fault?.reason, "The WS-Management service cannot process the request.");
    assert.equal(fault?.detail, "Access is denied.");
    assert.equal(
      fault?.message,
      "WS-Management fault 5 on WIN-HOST: The WS-Management service cannot process the request.\n" +
        "  detail: Access is denied.",
    );
    // A message that is only nested text keeps it as the sentence, with no detail.
    const nested = parseFault(parseEnvelope(NESTED_FAULT).body);
    assert.equal(nested?.detail, undefined);
  });

  test("a body without a fault is not a fault", () => {
    assert.equal(
      parseFault(parseEnvelope(`<s:Envelope ${NS}><s:Body><x/></s:Body></s:Envelope>`).body),
      undefined,
    );
  });

  test("RelatesTo must answer the request", () => {
    const { header } = parseEnvelope(OPERATION_TIMEOUT_FAULT);
    checkRelatesTo(header, "uuid:11111111-2222-3333-4444-555555555555");
    assert.throws(
      () => checkRelatesTo(header, "uuid:00000000-0000-0000-0000-000000000000"),
      ProtocolError,
    );
  });

  test("malformed XML and DOCTYPEs are ProtocolErrors", () => {
    assert.throws(() => parseEnvelope("<s:Envelope"), ProtocolError);
    assert.throws(() => parseEnvelope("<notanenvelope/>"), ProtocolError);
    assert.throws(
      () =>
        parseEnvelope(
          '<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope><s:Body>&a;</s:Body></s:Envelope>',
        ),
      /DOCTYPE/,
    );
  });

  test("a Receive response's large streams come out of the bytes as they went in", () => {
    // As Windows writes them (MS-WSMV 3.1.4.14): several Stream elements, one long enough to
    // be decoded in slices, one in lines, one with a character reference, an empty one with
    // End; and a DOCTYPE never hides.
    const big = randomBytes(120_000);
    const second = randomBytes(3_000);
    const response =
      `<s:Envelope ${NS} xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
      `<s:Header><a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body><rsp:ReceiveResponse>` +
      `<rsp:Stream Name="stdout" CommandId="C">${big.toString("base64")}</rsp:Stream>` +
      `<rsp:Stream\tName="stderr" CommandId="C">${second.toString("base64").replace(/.{76}/g, "$&\r\n")}</rsp:Stream>` +
      `<rsp:Stream Name="stdout" CommandId="C">${"QUJD".repeat(400)}&#10;</rsp:Stream>` +
      `<rsp:Stream Name="stdout" CommandId="C" End="true"></rsp:Stream>` +
      `<rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done">` +
      `<rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>`;
    const fromBytes = parseEnvelope(Buffer.from(response, "utf8"));
    const fromText = parseEnvelope(response);
    assert.equal(fromBytes.payloads.length, 2, "the two large base64 texts were lifted");
    assert.equal(fromText.payloads.length, 0);
    for (const parsed of [fromBytes, fromText]) {
      const streams = children(child(parsed.body, "ReceiveResponse"), "Stream");
      const data = streams.map((stream) => streamBytes(text(stream), parsed.payloads));
      assert.deepEqual(data[0], big);
      assert.deepEqual(data[1], second);
      assert.equal(data[2]!.toString("latin1"), "ABC".repeat(400));
      assert.equal(data[3]!.length, 0);
    }
    const hidden = Buffer.from(
      response.replace("<s:Envelope", '<!DOCTYPE s [<!ENTITY x "y">]><s:Envelope'),
      "utf8",
    );
    assert.throws(() => parseEnvelope(hidden), /DOCTYPE/);
  });

  test("a Send's payload is written into its message as the base64 a string would hold", () => {
    // Sizes around the 48 KiB slices and the padding of the last group of three bytes, with
    // text before and after that is not ASCII (escaped XML is UTF-8).
    for (const size of [0, 1, 2, 3, 49_151, 49_152, 49_153, 98_305, 390_000]) {
      const data = randomBytes(size);
      const xml = `<rsp:Stream Name="stdin" CommandId="é">${PAYLOAD_PLACE}</rsp:Stream><x>ü</x>`;
      const expected = Buffer.from(
        xml.replace(PAYLOAD_PLACE, () => data.toString("base64")),
        "utf8",
      );
      assert.deepEqual(messageWithPayload(xml, data), expected, `${size} bytes`);
      const parsed = parseEnvelope(
        messageWithPayload(`<s:Envelope ${NS}><s:Body>${xml}</s:Body></s:Envelope>`, data),
      );
      const stream = child(parsed.body, "Stream");
      assert.deepEqual(streamBytes(text(stream), parsed.payloads), data, `${size} bytes parsed`);
    }
    assert.throws(() => messageWithPayload("<a/>", Buffer.from("x")), /0 places/);
  });
});
