import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import {
  channelBindingsHash,
  endPointHashAlgorithm,
  tlsServerEndPoint,
} from "../../../provider/auth/channel-bindings";
import { ProtocolError } from "../../../provider/errors";
import { selfSignedCertificate } from "../../support/certificates";

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "hex");

describe("channel bindings (RFC 2744 3.11, RFC 5929 4, MS-NLMP MsvAvChannelBindings)", () => {
  test("MD5 of gss_channel_bindings_struct matches Microsoft's published example", () => {
    // Application data from Microsoft's Extended Protection example: tls-server-end-point with
    // a SHA-256 certificate hash; the resulting MsvAvChannelBindings value is published with it.
    const applicationData = Buffer.concat([
      Buffer.from("tls-server-end-point:", "latin1"),
      hex("ea05fefecc6b0bd571dbbc5baa3ed45386d0446835f7b74c85621b9983475f95"),
    ]);
    assert.deepEqual(channelBindingsHash(applicationData), hex("6586e99d81c2fc984e47172fd4dd0310"));
  });

  test("hash chosen by the certificate's signature algorithm", () => {
    const cases = [
      ["rsa", "sha256", "sha256"],
      ["rsa", "sha1", "sha256"],
      ["rsa", "sha384", "sha384"],
      ["rsa", "sha512", "sha512"],
      ["ec", "sha384", "sha384"],
      ["ec", "sha512", "sha512"],
    ] as const;
    for (const [keyType, signatureHash, expected] of cases) {
      const der = selfSignedCertificate(keyType, signatureHash);
      assert.equal(endPointHashAlgorithm(der), expected, `${keyType} with ${signatureHash}`);
      const data = tlsServerEndPoint(der);
      assert.deepEqual(
        data,
        Buffer.concat([
          Buffer.from("tls-server-end-point:"),
          createHash(expected).update(der).digest(),
        ]),
      );
    }
  });

  test("a certificate that is not DER is a ProtocolError", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const spki = publicKey.export({ type: "spki", format: "der" });
    assert.throws(() => endPointHashAlgorithm(spki.subarray(0, 10)), ProtocolError);
    assert.throws(() => endPointHashAlgorithm(Buffer.from("not a certificate")), ProtocolError);
  });
});
