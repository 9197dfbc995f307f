/**
 * Bad inputs fail `pulumi preview` with the property named and what to change, before anything
 * runs on the host.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Host, startHost } from "../host";
import { createProject, type E2EProject } from "./support/project";
import type { ResourceSpec } from "./support/scenario";

describe("check failures shown by pulumi preview", () => {
  let host: Host;
  let project: E2EProject;
  before(async () => {
    project = await createProject();
    host = await startHost();
  });
  after(async () => {
    await host?.close();
    project?.close();
  });

  const cases: Array<{
    what: string;
    connection?: Record<string, unknown>;
    resource: ResourceSpec;
    expect: RegExp;
  }> = [
    {
      what: "both content and source",
      resource: {
        kind: "RemoteFile",
        name: "f",
        args: { path: "/tmp/x", content: "a", source: "/etc/hostname" },
      },
      expect: /exactly one of content, source or asset/,
    },
    {
      what: "an empty host",
      connection: { host: "" },
      resource: { kind: "RemoteCommand", name: "c", args: { shell: "cmd", create: "true" } },
      expect: /connection\.host.*non-empty/s,
    },
    {
      what: "a port out of range",
      connection: { port: 70000 },
      resource: { kind: "RemoteCommand", name: "c", args: { shell: "cmd", create: "true" } },
      expect: /connection\.port.*1 to 65535/s,
    },
    {
      what: "basic over HTTP without allowUnencrypted",
      connection: { auth: "basic" },
      resource: { kind: "RemoteCommand", name: "c", args: { shell: "cmd", create: "true" } },
      expect: /connection\.auth.*allowUnencrypted/s,
    },
  ];

  for (const { what, connection, resource, expect } of cases) {
    test(`${what} fails preview, and nothing runs on the host`, async () => {
      const before = host.log.counters.requests;
      const stack = project.stack(`check-${cases.findIndex((item) => item.what === what)}`, {
        host: "127.0.0.1",
        port: host.port,
        user: host.user,
        password: host.password,
        ...connection,
      });
      const [preview] = await stack.run([resource], ["preview"]);
      assert.equal(preview?.ok, false, "preview must fail");
      assert.match(preview?.error ?? "", expect);
      assert.equal(host.log.counters.requests, before, "preview sent nothing to the host");
    });
  }
});
