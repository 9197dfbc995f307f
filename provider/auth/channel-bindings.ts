/**
 * Channel bindings tie an NTLM authentication to the TLS connection it ran over, so that a man
 * in the middle who terminates TLS cannot relay it (Extended Protection for Authentication).
 *
 * NTLM carries MD5 of a gss_channel_bindings_struct (RFC 2744 3.11, as MS-NLMP 2.2.2.1
 * MsvAvChannelBindings describes) whose only non-empty part is the application data
 * `tls-server-end-point:` followed by a hash of the server certificate (RFC 5929 4.1).
 */
import { createHash } from "node:crypto";
import { md5 } from "../crypto/hash";
import { decodeOid, DerTag, expectTlv } from "./der";

/**
 * MD5 of gss_channel_bindings_struct with no addresses:
 *   initiator_addrtype u32, initiator_address length u32 (0),
 *   acceptor_addrtype u32, acceptor_address length u32 (0),
 *   application_data length u32, application_data bytes;
 * all integers little-endian, as Windows and MIT Kerberos lay them out in memory.
 */
export function channelBindingsHash(applicationData: Uint8Array): Buffer {
  const head = Buffer.alloc(20);
  head.writeUInt32LE(applicationData.length, 16);
  return md5(head, applicationData);
}

/** Signature algorithm OIDs whose hash is not SHA-256 for tls-server-end-point (RFC 5929 4.1). */
const SIGNATURE_HASHES: Readonly<Record<string, "sha384" | "sha512">> = Object.freeze({
  "1.2.840.113549.1.1.12": "sha384", // sha384WithRSAEncryption
  "1.2.840.113549.1.1.13": "sha512", // sha512WithRSAEncryption
  "1.2.840.10045.4.3.3": "sha384", // ecdsa-with-SHA384
  "1.2.840.10045.4.3.4": "sha512", // ecdsa-with-SHA512
});

/**
 * The hash RFC 5929 4.1 picks for a certificate: the one its signature algorithm uses, except
 * that MD5 and SHA-1 (and anything unrecognised) become SHA-256.
 */
export function endPointHashAlgorithm(certificateDer: Uint8Array): "sha256" | "sha384" | "sha512" {
  return SIGNATURE_HASHES[signatureAlgorithmOid(Buffer.from(certificateDer))] ?? "sha256";
}

/** The application data for a TLS server certificate in DER form (RFC 5929 4). */
export function tlsServerEndPoint(certificateDer: Uint8Array): Buffer {
  const digest = createHash(endPointHashAlgorithm(certificateDer)).update(certificateDer).digest();
  return Buffer.concat([Buffer.from("tls-server-end-point:", "latin1"), digest]);
}

/*
 * Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm AlgorithmIdentifier,
 * signatureValue BIT STRING }, AlgorithmIdentifier ::= SEQUENCE { algorithm OID, ... }
 * (RFC 5280 4.1). Only the outer framing is walked: enough to read one OID.
 */
function signatureAlgorithmOid(der: Buffer): string {
  const structure = "Certificate";
  const certificate = expectTlv(der, 0, der.length, DerTag.SEQUENCE, structure, "Certificate");
  const tbs = expectTlv(
    der,
    certificate.start,
    certificate.end,
    DerTag.SEQUENCE,
    structure,
    "tbsCertificate",
  );
  const algorithm = expectTlv(
    der,
    tbs.end,
    certificate.end,
    DerTag.SEQUENCE,
    structure,
    "signatureAlgorithm",
  );
  const oid = expectTlv(
    der,
    algorithm.start,
    algorithm.end,
    DerTag.OBJECT_IDENTIFIER,
    structure,
    "algorithm",
  );
  return decodeOid(der.subarray(oid.start, oid.end));
}
