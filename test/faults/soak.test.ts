/**
 * The safety rules under many faults (issue 16): a fault-injecting TCP proxy cuts one message
 * per cycle, at a point chosen by a seeded generator (before the host sees it, after it acted
 * with its reply lost, halfway through the reply, or right after it), or holds a reply back;
 * each cycle runs a command with a known output and uploads a file. Whatever happens:
 * - no command runs twice (the host's log counts each cycle's marker);
 * - output that is returned is whole and in order, never with a part lost or repeated;
 * - a failure is a WinRMError, never a hang or a raw socket error;
 * - the destination of an upload holds the old content or the new, never a part;
 * - the client's heap and open descriptors stay flat across the cycles.
 *
 * FAULT_CYCLES (default 200) sets the volume; FUZZ_SEED replays a run.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { WinRMError } from "../../provider/errors";
import { WinRMClient } from "../../provider/winrm/client";
import { UPLOAD_TEMP_PREFIX } from "../../provider/winrm/scripts";
import { type Host, LogKind, startHost } from "../host";
import { type CutPoint, FaultProxy } from "../support/fault-proxy";

const USER = { user: "winrm-test", password: randomBytes(12).toString("hex") };
const CYCLES = Number(process.env.FAULT_CYCLES ?? 200);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const LINES = 20_000;
const EXPECTED = Array.from({ length: LINES }, (_, index) => `${index + 1}`).join("\n") + "\n";
const POINTS: CutPoint[] = ["before-request", "drop-reply", "mid-reply", "after-reply"];
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** A small seeded generator (mulberry32), so that a failing run can be replayed. */
function generator(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) % below;
  };
}

/** The heap after a full collection, and the descriptors this process holds. */
function footprint(): { heapBytes: number; descriptors: number } {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return {
    heapBytes: process.memoryUsage().heapUsed,
    descriptors: readdirSync("/proc/self/fd").length,
  };
}

describe(`the safety rules over ${CYCLES} fault cycles (seed ${SEED})`, () => {
  let host: Host;
  let proxy: FaultProxy;
  let dir: string;
  let client: WinRMClient;

  before(async () => {
    host = await startHost({ users: [USER] });
    proxy = await FaultProxy.start(host.port);
    dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-soak-"));
    client = new WinRMClient({
      host: "127.0.0.1",
      port: proxy.port,
      user: USER.user,
      password: USER.password,
      readyTimeoutMs: 10_000,
    });
  });
  after(async () => {
    await client.close();
    await proxy.close();
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("never twice, output whole or a typed error, destination old or new, footprint flat", async (t) => {
    const random = generator(SEED);
    const outcomes = new Map<string, number>();
    const count = (name: string) => outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
    /** The first message of each kind of failure, for the report. */
    const messages = new Map<string, string>();
    const target = join(dir, "target.bin");
    let current = randomBytes(64 * 1024);
    writeFileSync(target, current);
    const files = await client.files();
    let baseline: ReturnType<typeof footprint> | undefined;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      if (cycle === Math.min(20, CYCLES)) baseline = footprint();
      // One fault in the next few messages of this cycle's command or upload.
      const at = 1 + random(6);
      if (random(5) === 0) proxy.delayReply(at, 200 + random(800));
      else
        proxy.cutMessage(at, POINTS[random(POINTS.length)]!, random(2) === 0 ? "reset" : "close");
      const marker = `soak-${SEED}-${cycle}`;
      try {
        const result = await client.run(`seq 1 ${LINES}; echo ${marker} >&2`);
        assert.equal(result.exitCode, 0);
        assert.equal(result.stdout.toString(), EXPECTED, `cycle ${cycle}: stdout whole, in order`);
        assert.equal(result.stderr.toString(), `${marker}\n`);
        count("command ran");
      } catch (error) {
        assert.ok(error instanceof WinRMError, `cycle ${cycle}: ${String(error)}`);
        count(`command: ${error.name}`);
        if (!messages.has(error.name)) messages.set(error.name, error.message);
      }
      const started = host.log
        .entries(LogKind.COMMAND_STARTED)
        .filter((entry) => entry.commandLine?.includes(marker)).length;
      assert.ok(started <= 1, `cycle ${cycle}: the command started ${started} times`);

      const next = randomBytes(64 * 1024 + random(64 * 1024));
      proxy.reset();
      proxy.cutMessage(1 + random(8), POINTS[random(POINTS.length)]!);
      try {
        const uploaded = await files.upload(next, target);
        assert.equal(uploaded.sha256, sha256(next));
        current = next;
        count("upload done");
      } catch (error) {
        assert.ok(error instanceof WinRMError, `cycle ${cycle}: ${String(error)}`);
        count(`upload: ${error.name}`);
        if (!messages.has(error.name)) messages.set(error.name, error.message);
      }
      proxy.reset();
      const onHost = sha256(readFileSync(target));
      assert.ok(
        onHost === sha256(current) || onHost === sha256(next),
        `cycle ${cycle}: the destination is the old file or the new one`,
      );
      // A failed upload that the host finished after all is the new file: follow the host.
      if (onHost === sha256(next)) current = next;
    }
    proxy.reset();
    const end = footprint();
    const leftovers = readdirSync(dir).filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX));
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    for (const [name, message] of messages) t.diagnostic(`${name}: ${message}`);
    t.diagnostic(
      `heap after cycle 20: ${baseline?.heapBytes} B, at the end: ${end.heapBytes} B; ` +
        `descriptors ${baseline?.descriptors} then ${end.descriptors}; temporary files left: ${leftovers.length}`,
    );
    assert.ok((outcomes.get("command ran") ?? 0) > 0, "some commands got through");
    if (baseline !== undefined && CYCLES >= 100) {
      // Flat: what 180 more cycles add stays within a few connections' worth.
      assert.ok(end.descriptors <= baseline.descriptors + 10, "descriptors stay flat");
      assert.ok(end.heapBytes <= baseline.heapBytes + 8 * 1024 * 1024, "the heap stays flat");
    }
  });
});
