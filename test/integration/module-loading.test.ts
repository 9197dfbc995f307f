/**
 * What a client loads: without Kerberos settings a client authenticates with NTLM and never
 * compiles the Kerberos modules (about a quarter of the client's code, and of a command-line
 * run's start, issue 15). Each case runs in a fresh node process, whose module cache shows
 * what was loaded; the Kerberos case is the control that the check sees those modules.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type Host, startHost } from "../host";

const CLIENT = join(__dirname, "..", "..", "provider", "winrm", "client.js");

/** Runs one command with `options` in a fresh process; resolves with its stdout and the
 * provider modules under auth/ that the process loaded. */
async function loadedBy(
  options: Record<string, unknown>,
): Promise<{ out: string; auth: string[] }> {
  const script = `
    const { WinRMClient } = require(${JSON.stringify(CLIENT)});
    const client = new WinRMClient(${JSON.stringify(options)});
    client.run("echo", ["loaded"]).then(async (result) => {
      await client.close();
      const auth = Object.keys(require.cache)
        .map((file) => file.split(/[\\\\/]provider[\\\\/]auth[\\\\/]/)[1])
        .filter((name) => name !== undefined)
        .map((name) => name.replace(/\\\\/g, "/"));
      console.log(JSON.stringify({ out: result.stdout.toString().trim(), auth }));
    }, (error) => { console.error(error); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", script]);
  return JSON.parse(stdout) as { out: string; auth: string[] };
}

describe("the modules a client loads", () => {
  let host: Host;

  before(async () => {
    host = await startHost();
  });
  after(() => host.close());

  const base = () => ({
    host: "127.0.0.1",
    port: host.port,
    user: host.user,
    password: host.password,
  });

  for (const auth of ["negotiate", "ntlm"]) {
    test(`auth ${auth} with a workgroup user: no Kerberos module, no acceptor`, async () => {
      const { out, auth: loaded } = await loadedBy({ ...base(), auth });
      assert.equal(out, "loaded");
      const kerberos = loaded.filter((name) => name.startsWith("kerberos/"));
      // The address parser checks a kdc option; it needs no sockets and no Kerberos messages.
      assert.deepEqual(kerberos, ["kerberos/kdc-address.js"]);
      assert.ok(!loaded.includes("spnego-acceptor.js"), "the SPNEGO acceptor was loaded");
      assert.ok(!loaded.includes("acceptor-context.js"), "the acceptor context was loaded");
      assert.ok(loaded.includes("ntlm/context.js"), "NTLM was not loaded, so nothing was seen");
    });
  }

  test("a realm named: the Kerberos modules are loaded to look for a ticket (control)", async () => {
    // No krb5.conf knows the realm and with a password no cache is looked at: negotiate
    // loads the ticket code, finds nothing configured, and authenticates with NTLM.
    const { out, auth: loaded } = await loadedBy({ ...base(), realm: "NOWHERE.TEST" });
    assert.equal(out, "loaded");
    assert.ok(loaded.includes("kerberos/tickets.js"), `loaded: ${loaded.join(", ")}`);
  });
});
