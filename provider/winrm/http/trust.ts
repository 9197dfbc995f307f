/**
 * The certificates HTTPS trusts by default: Node's bundled roots plus the operating system's
 * store, so that a host certificate issued by an enterprise CA the machine already trusts
 * verifies without extra options. Node 22.15 and later expose the system store directly; on
 * older Node the usual bundle files of Linux distributions and macOS are read instead.
 */
import { readFileSync } from "node:fs";
import * as tls from "node:tls";

const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora, RHEL
  "/etc/ssl/ca-bundle.pem", // openSUSE
  "/etc/ssl/cert.pem", // macOS, BSDs
];

let cached: string[] | undefined;

export function defaultTrustedCertificates(): string[] {
  if (cached) return cached;
  const api = tls as unknown as { getCACertificates?: (type: "default" | "system") => string[] };
  if (typeof api.getCACertificates === "function") {
    cached = [...api.getCACertificates("default"), ...api.getCACertificates("system")];
    return cached;
  }
  const system: string[] = [];
  for (const path of SYSTEM_BUNDLES) {
    try {
      system.push(readFileSync(path, "utf8"));
      break;
    } catch {
      // Not this distribution's path.
    }
  }
  cached = [...tls.rootCertificates, ...system];
  return cached;
}
