// The loopback host's envelope parsing and fault building (WS-Management DSP0226, MS-WSMV).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { randomBytes } from "node:crypto";
import {
  buildFault,
  child,
  children,
  Faults,
  HostFault,
  parseDuration,
  parseEnvelope,
  streamData,
} from "../../host/wsman";
import { ACTIONS, envelope } from "./support";

const SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";

describe("loopback host: WS-Management envelopes", () => {
  test("xs:duration values as clients send OperationTimeout", () => {
    assert.equal(parseDuration("PT20S"), 20_000);
    assert.equal(parseDuration("PT60.000S"), 60_000);
    assert.equal(parseDuration("PT0.5S"), 500);
    assert.equal(parseDuration("PT1M30S"), 90_000);
    assert.equal(parseDuration("P1DT1H"), 90_000_000);
    for (const bad of ["20", "PT", "P", "PTS", "PT-1S", "1 minute"]) {
      assert.equal(parseDuration(bad), undefined, bad);
    }
  });

  test("reads headers whatever prefixes the client chose", () => {
    const xml = envelope({
      action: ACTIONS.command,
      shellId: "ABC",
      maxEnvelopeSize: 512000,
      operationTimeout: "PT5S",
      messageId: "uuid:1",
      options: { WINRS_SKIP_CMD_SHELL: "FALSE" },
      body: "<rsp:CommandLine><rsp:Command>echo</rsp:Command><rsp:Arguments>0123</rsp:Arguments></rsp:CommandLine>",
    })
      .replace(/\bs:/g, "env:")
      .replace(/xmlns:s=/, "xmlns:env=");
    const parsed = parseEnvelope(xml);
    assert.equal(parsed.headers.action, ACTIONS.command);
    assert.equal(parsed.headers.messageId, "uuid:1");
    assert.equal(parsed.headers.maxEnvelopeSize, 512000);
    assert.equal(parsed.headers.operationTimeoutMs, 5000);
    assert.equal(parsed.headers.selectors.get("ShellId"), "ABC");
    assert.equal(parsed.headers.options.get("WINRS_SKIP_CMD_SHELL"), "FALSE");
    assert.equal(parsed.identify, false);
    // Values stay strings: "0123" must not become the number 123.
    const args = (parsed.body.CommandLine as { Arguments: string[] }).Arguments;
    assert.deepEqual(args, ["0123"]);
  });

  test("a large Send's streams are read from the bytes, whatever the prefix, as given", () => {
    // Above 64 KB the host lifts base64 out of the raw request before parsing it; small
    // streams, and text that is not base64, go through the XML parser as before.
    const big = randomBytes(300_000);
    const small = randomBytes(40);
    for (const prefix of ["rsp:", "x.y-z:", ""]) {
      const open = (attributes: string) => `<${prefix}Stream ${attributes}>`;
      const close = `</${prefix}Stream>`;
      const xml = envelope({
        action: ACTIONS.send,
        shellId: "ABC",
        body:
          `<rsp:Send>${open('Name="stdin" CommandId="1"')}` +
          `${big.toString("base64").replace(/.{76}/g, "$&\r\n")}${close}` +
          `${open('Name="stdin" CommandId="2" End="true"')}${small.toString("base64")}${close}` +
          `${open('Name="stdin" CommandId="3"')}${"QUJD".repeat(300)}&#65;${close}` +
          `<${prefix}Stream Name="stdin" CommandId="4" End="true"/></rsp:Send>`,
      }).replace(/<rsp:Send>/, `<rsp:Send${prefix ? "" : ` xmlns="${SHELL}"`}>`);
      const parsed = parseEnvelope(Buffer.from(xml, "utf8"));
      const streams = children(child(parsed.body, "Send"), "Stream");
      assert.equal(streams.length, 4, prefix);
      assert.equal(parsed.payloads.length, 1, prefix);
      assert.deepEqual(streamData(parsed, streams[0]!), big, prefix);
      assert.deepEqual(streamData(parsed, streams[1]!), small, prefix);
      assert.equal(streamData(parsed, streams[2]!).toString("latin1"), `${"ABC".repeat(300)}`);
      assert.equal(streamData(parsed, streams[3]!).length, 0);
    }
  });

  test("malformed envelopes raise the faults Windows sends", () => {
    const fault = (xml: string) => {
      try {
        parseEnvelope(xml);
      } catch (error) {
        assert.ok(error instanceof HostFault);
        return error.spec;
      }
      assert.fail("no fault");
    };
    assert.equal(fault("<not xml").subcode, "w:SchemaValidationError");
    assert.match(fault("<Envelope><Body/></Envelope>").reason, /SOAP 1\.2/);
    assert.match(
      fault(envelope({ action: ACTIONS.create, operationTimeout: "soon" })).reason,
      /OperationTimeout "soon"/,
    );
  });

  test("a fault is a SOAP 1.2 Fault with WSManFault Code, Machine and Message", () => {
    const xml = buildFault(Faults.timedOut(), "uuid:42", "127.0.0.1");
    const parsed = new XMLParser({ ignoreAttributes: false, removeNSPrefix: true }).parse(xml) as {
      Envelope: {
        Header: { RelatesTo: string; Action: string };
        Body: {
          Fault: {
            Code: { Value: string; Subcode: { Value: string } };
            Reason: { Text: { "#text": string } };
            Detail: { WSManFault: { "@_Code": string; "@_Machine": string; Message: string } };
          };
        };
      };
    };
    const { Header, Body } = parsed.Envelope;
    assert.equal(Header.RelatesTo, "uuid:42");
    assert.equal(Header.Action, "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault");
    assert.equal(Body.Fault.Code.Value, "s:Receiver");
    assert.equal(Body.Fault.Code.Subcode.Value, "w:TimedOut");
    assert.equal(Body.Fault.Detail.WSManFault["@_Code"], "2150858793");
    assert.equal(Body.Fault.Detail.WSManFault["@_Machine"], "127.0.0.1");
    assert.equal(Body.Fault.Detail.WSManFault.Message, Body.Fault.Reason.Text["#text"]);
  });
});
