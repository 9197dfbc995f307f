/**
 * A reply to Create lost on the way back (issue 16, item 6): the host made the shell, the
 * client never learnt its id. The client names its shells itself (an uppercase GUID in the
 * ShellId attribute of rsp:Shell, as WSManCreateShellEx and MS-PSRP clients do), so it can
 * delete that shell anyway, and nothing counts against the user's MaxShellsPerUser until it
 * idles out. The loopback host keeps a client's name as Windows does for the shells it names.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { WinRMClient } from "../../provider/winrm/client";
import { type Host, LogKind, startHost } from "../host";
import { FaultProxy } from "../support/fault-proxy";

const USER = { user: "winrm-test", password: randomBytes(12).toString("hex") };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a lost reply to Create (fault proxy)", () => {
  let host: Host;
  let proxy: FaultProxy;
  const clients: WinRMClient[] = [];

  function client(): WinRMClient {
    const created = new WinRMClient({
      host: "127.0.0.1",
      port: proxy.port,
      user: USER.user,
      password: USER.password,
      readyTimeoutMs: 10_000,
    });
    clients.push(created);
    return created;
  }

  /** Shells the host holds now: created and not deleted. */
  function openShells(): string[] {
    const deleted = new Set(host.log.entries(LogKind.SHELL_DELETED).map((entry) => entry.shellId));
    return host.log
      .entries(LogKind.SHELL_CREATED)
      .map((entry) => entry.shellId!)
      .filter((id) => !deleted.has(id));
  }

  before(async () => {
    host = await startHost({ users: [USER] });
    proxy = await FaultProxy.start(host.port);
  });
  afterEach(async () => {
    proxy.reset();
    await Promise.all(clients.splice(0).map((each) => each.close()));
  });
  after(async () => {
    await proxy.close();
    await host.close();
  });

  test("item 6: the shell whose Create reply was lost is deleted, and the command runs once in another", async (t) => {
    const winrm = client();
    const before = host.log.entries(LogKind.SHELL_CREATED).length;
    // A new client's first message is its Create: the host makes the shell, the reply is lost.
    proxy.cutMessage(1, "drop-reply");
    const began = Date.now();
    const result = await winrm.run("echo item6-marker");
    const tookMs = Date.now() - began;
    assert.equal(result.stdout.toString().trim(), "item6-marker");
    const created = host.log.entries(LogKind.SHELL_CREATED).slice(before);
    assert.equal(created.length, 2, "the lost one, then the one the command ran in");
    const commandShell = host.log
      .entries(LogKind.COMMAND_STARTED)
      .filter((entry) => entry.commandLine?.includes("item6-marker"))
      .map((entry) => entry.shellId);
    assert.deepEqual(commandShell, [created[1]!.shellId], "the command ran once, in the second");
    for (let n = 0; n < 50 && openShells().includes(created[0]!.shellId!); n++) await sleep(100);
    assert.deepEqual(openShells(), [created[1]!.shellId], "the lost shell was deleted");
    await winrm.close();
    assert.deepEqual(openShells(), [], "close() left no shell behind");
    t.diagnostic(`item 6: command done ${tookMs} ms after a lost Create reply`);
  });
});
