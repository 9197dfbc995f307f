/**
 * A certificate authority and a server certificate for the loopback host's HTTPS listener,
 * made with the real `openssl` command line tool (an independent X.509 implementation), so
 * that clients verify the chain as they would against a Windows listener with an enterprise
 * certificate.
 *
 * Two kinds, to exercise the channel-binding hash choice of RFC 5929 4.1:
 * - "rsa": RSA 2048 keys, signatures with SHA-256, so tls-server-end-point hashes with SHA-256;
 * - "ec":  ECDSA P-384 keys, signatures with SHA-384, so it hashes with SHA-384.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type HostKeyType = "rsa" | "ec";

export interface ServerCredentials {
  /** The CA certificate (PEM) that clients should trust. */
  caCertificatePem: string;
  /** The server certificate (PEM) and its private key (PEM), for tls.createServer. */
  certificatePem: string;
  keyPem: string;
  /** The server certificate in DER: what tls-server-end-point hashes. */
  certificateDer: Buffer;
}

const KEY_ARGUMENTS: Readonly<Record<HostKeyType, readonly string[]>> = Object.freeze({
  rsa: ["-newkey", "rsa:2048"],
  ec: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
});

const DIGEST: Readonly<Record<HostKeyType, string>> = Object.freeze({
  rsa: "-sha256",
  ec: "-sha384",
});

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * Makes a fresh CA and a server certificate for 127.0.0.1 and localhost signed by it. Fresh on
 * every call: a test that needs the certificate of *this* host must not share it by accident.
 */
export function makeServerCredentials(keyType: HostKeyType): ServerCredentials {
  const dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-host-ca-"));
  try {
    const digest = DIGEST[keyType];
    const key = KEY_ARGUMENTS[keyType];
    openssl(
      [
        "req",
        "-x509",
        ...key,
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=pulumi-winrm loopback test CA",
        "-days",
        "2",
        digest,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
      dir,
    );
    openssl(
      [
        "req",
        "-new",
        ...key,
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
      ],
      dir,
    );
    // The server certificate needs subjectAltName: clients match names against SAN only.
    writeFileSync(
      join(dir, "server.ext"),
      "basicConstraints=CA:FALSE\n" +
        "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement\n" +
        "extendedKeyUsage=serverAuth\n" +
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        digest,
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
      ],
      dir,
    );
    openssl(["x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der"], dir);
    return {
      caCertificatePem: readFileSync(join(dir, "ca.pem"), "utf8"),
      certificatePem: readFileSync(join(dir, "server.pem"), "utf8"),
      keyPem: readFileSync(join(dir, "server.key"), "utf8"),
      certificateDer: readFileSync(join(dir, "server.der")),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
