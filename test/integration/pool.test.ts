/**
 * The provider's pool of clients (provider/connection.ts) across a host's restart: dropHost
 * lets the host's clients go, and a call that was waiting for a slot moves to a new client
 * instead of running on a closed one (issue 17, Reboot).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type ConnectionArgs, dropHost, withClient } from "../../provider/connection";
import type { WinRMClient } from "../../provider/winrm/client";
import { type Host, startHost } from "../host";

describe("the provider's client pool", () => {
  let host: Host;
  let connection: ConnectionArgs;

  before(async () => {
    host = await startHost();
    connection = {
      host: "127.0.0.1",
      port: host.port,
      user: host.user,
      password: host.password,
      maxConcurrency: 1,
    };
  });
  after(async () => {
    // The pool lives as long as the process: let its clients go, or their connections would
    // keep this test file's process alive.
    dropHost(connection);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await host.close();
  });

  test("a call waiting for a slot when the host's clients are dropped runs on a new client", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holds!: () => void;
    const holding = new Promise<void>((resolve) => (holds = resolve));
    let first: WinRMClient | undefined;
    const done = withClient(connection, async (client) => {
      first = client;
      assert.equal((await client.run("echo one", [])).exitCode, 0);
      holds();
      await held;
    });
    // The second call waits: maxConcurrency is 1.
    let second: WinRMClient | undefined;
    const waiting = withClient({ ...connection, host: "127.0.0.1" }, async (client) => {
      second = client;
      return (await client.run("echo two", [])).stdout.toString().trim();
    });
    // Dropped only once the first call's command is done and it holds its slot idle: a drop
    // during the command would cut it (as a restart does), which is not what is tested here.
    // On a loaded machine that command alone can take longer than any fixed wait.
    await holding;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(second, undefined, "the second call is still waiting");
    dropHost({ ...connection, host: "127.0.0.1" });
    release();
    await done;
    assert.equal(await waiting, "two");
    assert.ok(first && second && first !== second, "the waiting call got a new client");
  });

  test("a host written with its default port or in capitals is the same host", async () => {
    const plain = { ...connection, port: undefined, host: "localhost" };
    let before: WinRMClient | undefined;
    // No request is sent: only the pool's bookkeeping is looked at.
    await withClient(plain, (client) => Promise.resolve((before = client)));
    dropHost({ ...plain, host: "LOCALHOST", port: 5985 });
    let after: WinRMClient | undefined;
    await withClient(plain, (client) => Promise.resolve((after = client)));
    assert.ok(before && after && before !== after, "the entry for localhost:5985 was dropped");
  });
});
