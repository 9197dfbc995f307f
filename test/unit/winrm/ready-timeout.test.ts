/**
 * A host that is not up yet (connections refused), on a clock the test moves: the pauses
 * between attempts, the end of readyTimeoutMs and the caller's signal are checked without
 * sleeping through them. The refusals are real: a port on the loopback interface that nothing
 * listens on.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { HostUnreachableError } from "../../../provider/errors";
import { WinRMClient } from "../../../provider/winrm/client";
import { type ManualClock, manualClock } from "../../support/manual-clock";
import { describeWait, HostWait, type WaitProgress } from "../../../provider/winrm/http/host-wait";

/** A loopback port that refuses connections: one just given back by a listener. */
async function refusingPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function clientOn(port: number, clock: ManualClock, readyTimeoutMs: number): WinRMClient {
  return new WinRMClient(
    { host: "127.0.0.1", port, user: "someone", password: "unused", readyTimeoutMs },
    { clock },
  );
}

/**
 * Moves the clock through every pause `work` takes until it settles; returns the pauses. The
 * clock moves only while at least `quiet` timers are pending: with the wait's report timer
 * running, that is when the next pause has begun (an attempt in flight is real I/O, which the
 * clock must not run ahead of).
 */
async function pausesUntilSettled(
  clock: ManualClock,
  work: Promise<unknown>,
  quiet = 1,
): Promise<number[]> {
  let settled = false;
  void work.then(
    () => (settled = true),
    () => (settled = true),
  );
  const pauses: number[] = [];
  while (!settled) {
    if (clock.pending() < quiet) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    const pause = await clock.nextTimer();
    pauses.push(pause);
    clock.advance(pause);
  }
  return pauses;
}

describe("a host that refuses connections (still booting)", () => {
  test("is retried after pauses that double to 5 s, until readyTimeoutMs, then reported unreachable", async () => {
    const clock = manualClock();
    const client = clientOn(await refusingPort(), clock, 20_000);
    try {
      const identify = client.identify();
      identify.catch(() => undefined); // asserted below
      const pauses = await pausesUntilSettled(clock, identify);
      // 250 + 500 + 1000 + 2000 + 4000 + 5000 + 5000 = 17750 ms; one more would pass 20 s.
      assert.deepEqual(pauses, [250, 500, 1000, 2000, 4000, 5000, 5000]);
      await assert.rejects(identify, (error: unknown) => {
        assert.ok(error instanceof HostUnreachableError, String(error));
        assert.match(error.message, /ECONNREFUSED/);
        assert.match(error.message, /after trying for 20000 ms/);
        assert.match(error.message, /raise readyTimeout/);
        return true;
      });
    } finally {
      await client.close();
    }
  });

  test("a caller's signal ends the wait between attempts, and no timer is left", async () => {
    const clock = manualClock();
    const client = clientOn(await refusingPort(), clock, 300_000);
    try {
      const controller = new AbortController();
      const run = client.run("echo never", [], { signal: controller.signal });
      run.catch(() => undefined); // asserted below
      assert.equal(await clock.nextTimer(), 250, "the first pause after a refusal");
      controller.abort(new Error("the operation was cancelled"));
      await assert.rejects(run, /^Error: the operation was cancelled$/);
      assert.equal(clock.pending(), 0, "the pause's timer was cleared");
    } finally {
      await client.close();
    }
  });

  test("the wait is reported when it begins and every 10 s, with the last attempt's failure", async () => {
    const clock = manualClock();
    const port = await refusingPort();
    const reports: WaitProgress[] = [];
    const client = new WinRMClient(
      {
        host: "127.0.0.1",
        port,
        user: "someone",
        password: "unused",
        readyTimeoutMs: 30_000,
        onWaiting: (progress) => reports.push(progress),
      },
      { clock },
    );
    try {
      const identify = client.identify();
      identify.catch(() => undefined); // asserted below
      await pausesUntilSettled(clock, identify, 2);
      await assert.rejects(identify, HostUnreachableError);
      // The attempts span 27.75 s (pauses of 250 ms doubling to 5 s): reports at 0, 10 and 20 s.
      assert.deepEqual(
        reports.map((report) => report.waitedMs),
        [0, 10_000, 20_000],
      );
      for (const report of reports) {
        assert.deepEqual(
          { host: report.host, reason: report.reason, limitMs: report.limitMs },
          { host: `127.0.0.1:${port}`, reason: "ECONNREFUSED", limitMs: 30_000 },
        );
      }
      assert.equal(clock.pending(), 0, "no report is left scheduled once the wait is over");
      assert.equal(
        describeWait(reports[1]!, { option: "readyTimeout", unit: "s" }),
        `waiting for 127.0.0.1:${port} to answer (last attempt: ECONNREFUSED): 10 s of 30 s (readyTimeout)`,
      );
    } finally {
      await client.close();
    }
  });
  test("a report that fires late does not push the later ones back", () => {
    const clock = manualClock();
    const reports: number[] = [];
    const wait = new HostWait(clock, "host:5985", 60_000, (progress) =>
      reports.push(progress.waitedMs),
    );
    wait.enter("ECONNREFUSED");
    // A busy machine runs the first report's timer 700 ms late ...
    clock.advance(10_700);
    assert.deepEqual(reports, [0, 10_700]);
    // ... and the next one is still due 20 s after the wait began, not 10 s after the late one.
    assert.equal(clock.pending(), 1);
    clock.advance(9_299);
    assert.deepEqual(reports, [0, 10_700]);
    clock.advance(1);
    assert.deepEqual(reports, [0, 10_700, 20_000]);
    wait.leave();
    assert.equal(clock.pending(), 0, "no report is left scheduled once the wait is over");
  });
});
