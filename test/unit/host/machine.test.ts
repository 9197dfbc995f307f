/**
 * The loopback host's machine (test/host/machine.ts): the stand-ins for shutdown.exe,
 * shutdown, uptime -s and needs-restarting -r, run as a command on the host runs them, and
 * the restart they set off (goDown, a pause, comeBack, a new boot time).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Machine } from "../../host/machine";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("the loopback host's machine", () => {
  let machine: Machine;
  const events: string[] = [];

  before(async () => {
    machine = new Machine({ restartDownMs: 300 });
    await machine.start({
      goDown: (reason) => {
        events.push(`down: ${reason}`);
        return Promise.resolve();
      },
      comeBack: () => {
        events.push("up");
        return Promise.resolve();
      },
    });
  });
  after(() => machine.close());

  /** Runs a stand-in with its arguments, as the host's sh would find it on PATH. */
  const tool = (name: string, ...args: string[]): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const child = spawn(join(machine.binDir, name), args, { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
  const waitFor = async (condition: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      assert.ok(Date.now() < deadline, "timed out");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  test("shutdown.exe: /r schedules a restart, a second is refused (1190), /a aborts it", async () => {
    assert.equal((await tool("shutdown.exe", "/r", "/t", "600", "/c", "later")).code, 0);
    const again = await tool("shutdown.exe", "/r", "/t", "5");
    // Windows exits 1190; a Linux exit status keeps its low 8 bits.
    assert.equal(again.code, 1190 & 0xff);
    assert.match(again.stderr, /already been scheduled\.\(1190\)/);
    assert.equal((await tool("shutdown.exe", "/a")).code, 0);
    const none = await tool("shutdown.exe", "/a");
    assert.equal(none.code, 1116 & 0xff);
    assert.match(none.stderr, /no shutdown was in progress\.\(1116\)/);
  });

  test("shutdown.exe refuses what Windows refuses (87)", async () => {
    for (const args of [["/r", "/t", "-1"], ["/r", "/d", "nonsense"], ["/x"], []]) {
      const ran = await tool("shutdown.exe", ...args);
      assert.equal(ran.code, 87, args.join(" "));
      assert.match(ran.stderr, /The parameter is incorrect/);
    }
  });

  test("a restart: down, back after the pause with a new boot time, the pending mark cleared", async () => {
    const boot = machine.lastBootTime.getTime();
    machine.setRestartPending(true);
    assert.equal((await tool("needs-restarting", "-r")).code, 1);
    events.length = 0;
    assert.equal((await tool("shutdown.exe", "/r", "/t", "0", "/d", "p:2:4", "/c", "now")).code, 0);
    await waitFor(() => events.includes("up"));
    assert.deepEqual(events, ["down: now", "up"]);
    assert.ok(machine.lastBootTime.getTime() >= boot + 300);
    assert.equal(machine.restartPending, false);
    assert.equal((await tool("needs-restarting", "-r")).code, 0);
    const uptime = await tool("uptime", "-s");
    assert.equal(uptime.code, 0);
    const printed = new Date(uptime.stdout.trim().replace(" ", "T"));
    assert.equal(printed.getTime(), Math.floor(machine.lastBootTime.getTime() / 1000) * 1000);
  });

  test("POSIX shutdown: -r now restarts, -c cancels a scheduled one, bad options are refused", async () => {
    assert.equal((await tool("shutdown", "-r", "+5", "in five")).code, 0);
    assert.equal((await tool("shutdown", "-c")).code, 0);
    const restarts = machine.restarts;
    events.length = 0;
    assert.equal((await tool("shutdown", "-r", "now", "go")).code, 0);
    await waitFor(() => events.includes("up"));
    assert.equal(machine.restarts, restarts + 1);
    assert.equal((await tool("shutdown", "--bogus")).code, 1);
    assert.equal((await tool("shutdown", "-r", "tomorrow")).code, 1);
  });
});
