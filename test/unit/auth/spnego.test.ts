import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeNegotiationToken,
  encodeMechTypes,
  encodeNegTokenInit,
  encodeNegTokenResp,
  isRawNtlm,
  NegState,
  Oid,
} from "../../../provider/auth/spnego";
import { ProtocolError } from "../../../provider/errors";

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "hex");

/** DER encodings of RFC 4178 tokens, worked out from X.690 and checked against pyspnego. */
const MECH_TYPES_KRB5_NTLM = hex("3017 06092a864886f712010202 060a2b0601040182370202 0a");
const NEG_TOKEN_INIT_WITH_HINTS = hex(
  "603d 06062b0601050502 a033 3031 a019" +
    "3017 06092a864886f712010202 060a2b06010401823702020a" +
    "a104 03020004 a206 040400000000 a306 040401010101",
);
const NEG_TOKEN_RESP_REQUEST_MIC = hex(
  "a125 3023 a003 0a0103 a10c 060a2b06010401823702020a a206 040400000000 a306 040401010101",
);

describe("SPNEGO tokens (RFC 4178 4.2)", () => {
  test("MechTypeList encodes to DER", () => {
    assert.deepEqual(encodeMechTypes([Oid.KERBEROS, Oid.NTLMSSP]), MECH_TYPES_KRB5_NTLM);
    assert.deepEqual(encodeMechTypes([Oid.NTLMSSP]), hex("300c 060a2b06010401823702020a"));
  });

  test("decodes a NegTokenInit with reqFlags, mechToken and mechListMIC", () => {
    const token = decodeNegotiationToken(NEG_TOKEN_INIT_WITH_HINTS);
    assert.equal(token.kind, "init");
    if (token.kind !== "init") return;
    assert.deepEqual(token.mechTypes, [Oid.KERBEROS, Oid.NTLMSSP]);
    assert.deepEqual(token.mechTypesDer, MECH_TYPES_KRB5_NTLM);
    assert.deepEqual(token.mechToken, hex("00000000"));
    assert.deepEqual(token.mechListMIC, hex("01010101"));
  });

  test("NegTokenResp encodes and decodes byte for byte", () => {
    const fields = {
      negState: NegState.REQUEST_MIC,
      supportedMech: Oid.NTLMSSP,
      responseToken: hex("00000000"),
      mechListMIC: hex("01010101"),
    };
    assert.deepEqual(encodeNegTokenResp(fields), NEG_TOKEN_RESP_REQUEST_MIC);
    assert.deepEqual(decodeNegotiationToken(NEG_TOKEN_RESP_REQUEST_MIC), {
      kind: "resp",
      ...fields,
    });
  });

  test("NegTokenInit round-trips through the InitialContextToken wrapper", () => {
    const mechToken = Buffer.from("NTLMSSP\0\x01\0\0\0", "latin1");
    const encoded = encodeNegTokenInit({ mechTypes: [Oid.NTLMSSP], mechToken });
    assert.equal(encoded[0], 0x60);
    const decoded = decodeNegotiationToken(encoded);
    assert.equal(decoded.kind, "init");
    if (decoded.kind === "init") assert.deepEqual(decoded.mechToken, mechToken);
  });

  test("tells raw NTLM from SPNEGO", () => {
    assert.ok(isRawNtlm(Buffer.from("NTLMSSP\0\x01\0\0\0", "latin1")));
    assert.ok(!isRawNtlm(NEG_TOKEN_INIT_WITH_HINTS));
  });

  test("truncated, overlong and foreign tokens are ProtocolErrors", () => {
    for (const bad of [
      NEG_TOKEN_INIT_WITH_HINTS.subarray(0, 20),
      Buffer.concat([NEG_TOKEN_RESP_REQUEST_MIC, Buffer.from([0])]),
      hex("6003 060100"),
      hex("a2 00"),
      hex("a184ffffffff"),
      hex("a180"),
      Buffer.alloc(0),
    ]) {
      assert.throws(() => decodeNegotiationToken(bad), ProtocolError, bad.toString("hex"));
    }
  });
});
