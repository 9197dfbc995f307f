// The loopback host's envelope parsing and fault building (WS-Management DSP0226, MS-WSMV).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { buildFault, Faults, HostFault, parseDuration, parseEnvelope } from "../../host/wsman";
import { ACTIONS, envelope } from "./support";

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
