/**
 * Test certificates made with the real `openssl` command line tool, so that the DER the tests
 * parse comes from an independent X.509 implementation.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type KeyType = "rsa" | "ec";
export type SignatureHash = "sha1" | "sha256" | "sha384" | "sha512";

const cache = new Map<string, Buffer>();

/** A self-signed certificate for CN=localhost, in DER, signed with the given hash. */
export function selfSignedCertificate(keyType: KeyType, hash: SignatureHash): Buffer {
  const cacheKey = `${keyType}/${hash}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-cert-"));
  try {
    const key =
      keyType === "rsa"
        ? ["-newkey", "rsa:2048"]
        : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
    const out = join(dir, "cert.der");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        ...key,
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-subj",
        "/CN=localhost",
        "-days",
        "1",
        `-${hash}`,
        "-outform",
        "DER",
        "-out",
        out,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const der = readFileSync(out);
    cache.set(cacheKey, der);
    return der;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
