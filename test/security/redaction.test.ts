/**
 * A client printed or serialised by whatever a user or a library does with it (console.log,
 * util.inspect with every option, JSON.stringify, a %o format) never shows its password, its
 * NT hash or anything derived from them (issue 18, item 4).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { format, inspect } from "node:util";
import { ntHash } from "../../provider/auth/ntlm/crypto";
import { WinRMClient } from "../../provider/winrm/client";
import { type Host, startHost } from "../host";

/** Every way an object graph commonly reaches a log. */
function renderings(value: unknown): string[] {
  return [
    inspect(value),
    inspect(value, { depth: Infinity, showHidden: true, getters: true }),
    format("%o", value),
    format("%O", value),
    format("%j", value),
    JSON.stringify(value) ?? "",
  ];
}

describe("redaction of a client's credentials", () => {
  let host: Host;
  before(async () => {
    host = await startHost();
  });
  after(() => host.close());

  for (const kind of ["password", "ntHash"] as const) {
    test(`a client given a ${kind}, used for a command, prints none of it`, async () => {
      const hash = ntHash(host.password).toString("hex");
      const client = new WinRMClient({
        host: "127.0.0.1",
        port: host.port,
        user: host.user,
        ...(kind === "password" ? { password: host.password } : { ntHash: hash }),
      });
      try {
        assert.equal((await client.run("echo redaction")).exitCode, 0);
        for (const value of [client, client.options, client.options.transport]) {
          for (const text of renderings(value)) {
            assert.ok(!text.includes(host.password), `the password in: ${text.slice(0, 200)}`);
            assert.ok(!text.toLowerCase().includes(hash), `the NT hash in: ${text.slice(0, 200)}`);
          }
        }
        assert.match(
          inspect(client),
          /endpoint: 'http:\/\/127\.0\.0\.1:\d+\/wsman'.*\[redacted\]/s,
        );
      } finally {
        await client.close();
      }
    });
  }

  test("the concealed secret still authenticates (a control: the value is there to use)", () => {
    const client = new WinRMClient({ host: "h", user: "u", password: "p@ss" });
    const secret = client.options.transport.secret;
    assert.ok(secret !== undefined);
    assert.equal("password" in secret ? secret.password : undefined, "p@ss");
  });
});
