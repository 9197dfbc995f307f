/**
 * RemoteCommand and RemoteFile on the real Pulumi engine against a Kerberos-only loopback host
 * (it holds HTTP/127.0.0.1's keys from a real MIT realm started here, and refuses NTLM): over
 * HTTP with every message sealed under Kerberos, and over HTTPS with the TLS channel bound into
 * the authenticator and CbtHardeningLevel Strict. The provider gets its tickets from the KDC
 * named by the connection's kdc option, with the password from a secret.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Host, LogKind, startHost } from "../host";
import { type MitRealm, mitKdcSkipReason, startMitRealm } from "../support/mit-kdc";
import { createProject, type E2EProject } from "./support/project";
import { outputsOf } from "./support/state";
import type { ResourceSpec } from "./support/scenario";

const REALM = "E2E.TEST";
const USER = "deployer";
const PASSWORD = "Deployer-Kerberos-1!";

const skipReason = mitKdcSkipReason();

describe("RemoteCommand and RemoteFile on a Kerberos-only host", { skip: skipReason }, () => {
  let realm: MitRealm;
  let project: E2EProject;
  let work: string;

  before(async () => {
    realm = await startMitRealm({
      realm: REALM,
      users: [{ name: USER, password: PASSWORD }],
      services: ["HTTP/127.0.0.1"],
    });
    project = await createProject();
    work = mkdtempSync(join(tmpdir(), "pulumi-winrm-e2e-kerberos-"));
  });
  after(async () => {
    project?.close();
    await realm?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const cases = [
    { name: "http", auth: "kerberos", https: false, sealing: /^Kerberos \(kerberos, kerberos\)$/ },
    {
      name: "https",
      auth: "negotiate",
      https: true,
      sealing: /^Negotiate \(negotiate, kerberos\) over TLS$/,
    },
  ] as const;

  for (const variant of cases) {
    test(`${variant.name}, auth ${variant.auth}: up, a quiet second up, destroy`, async () => {
      const host: Host = await startHost({
        users: [{ user: USER, password: PASSWORD }],
        kerberos: { keytab: realm.env.KRB5_KTNAME!.slice("FILE:".length), allowNtlm: false },
        ...(variant.https ? { https: "rsa" as const, cbtHardeningLevel: "strict" as const } : {}),
      });
      try {
        const connection: Record<string, unknown> = {
          host: "127.0.0.1",
          port: host.port,
          user: `${USER}@${REALM}`,
          password: PASSWORD,
          auth: variant.auth,
          kdc: `127.0.0.1:${realm.tcpPort}`,
          ...(variant.https ? { https: true, caCert: host.caCertificatePem } : {}),
        };
        const path = join(work, variant.name, "settings.ini");
        const marker = `kerberos-${variant.name}-marker`;
        const resources: ResourceSpec[] = [
          {
            kind: "RemoteCommand",
            name: "hello",
            args: {
              shell: "cmd",
              logging: "none",
              create: `echo ${marker}`,
              delete: `echo deleted-${marker}`,
            },
          },
          {
            kind: "RemoteFile",
            name: "settings",
            args: { path, content: "[app]\nkerberos=yes\n" },
          },
        ];
        const stack = project.stack(`kerberos-${variant.name}`, connection, {
          secretPassword: true,
        });
        const [up, exported] = await stack.runOk(resources, ["up", "export"]);
        assert.deepEqual(up?.changes, { create: 3 });
        assert.equal(outputsOf(exported, "hello").stdout, `${marker}\n`);
        assert.equal(readFileSync(path, "utf8"), "[app]\nkerberos=yes\n");
        // Every authentication was Kerberos, in the form this variant asked for.
        const authentications = host.log.entries(LogKind.AUTHENTICATED);
        assert.ok(authentications.length >= 1);
        for (const entry of authentications) assert.match(entry.detail ?? "", variant.sealing);
        assert.equal(host.log.entries(LogKind.AUTHENTICATION_FAILED).length, 0);
        if (!variant.https) assert.ok(host.log.counters.sealedMessages > 0, "messages sealed");
        // The password stays a secret in the state: it is nowhere in the export in clear.
        assert.equal(JSON.stringify(exported).includes(PASSWORD), false);

        const [again] = await stack.runOk(resources, ["up"]);
        assert.deepEqual(again?.changes, { same: 3 });
        const [destroy] = await stack.runOk(resources, ["destroy"]);
        assert.deepEqual(destroy?.changes, { delete: 3 });
        assert.equal(existsSync(path), false);
      } finally {
        await host.close();
      }
    });
  }
});
