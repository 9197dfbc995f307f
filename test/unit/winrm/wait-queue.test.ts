/**
 * WaitQueue on a clock the test moves by hand: order of waking, timeouts and aborts are
 * checked without sleeping and without asserting elapsed time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WaitQueue, type WaitOutcome } from "../../../provider/winrm/wait-queue";
import { manualClock } from "../../support/manual-clock";

/** Records how each wait ended, in the order they ended. */
function track(queue: WaitQueue, label: string, outcomes: string[], options = {}): Promise<void> {
  return queue.wait(options).then(
    (outcome: WaitOutcome) => void outcomes.push(`${label}:${outcome}`),
    (error: unknown) => void outcomes.push(`${label}:aborted:${(error as Error).message}`),
  );
}

describe("WaitQueue", () => {
  test("wakes waiters one at a time, first come first woken", async () => {
    const queue = new WaitQueue(manualClock());
    const outcomes: string[] = [];
    const waits = ["a", "b", "c"].map((label) => track(queue, label, outcomes));
    assert.equal(queue.length, 3);
    assert.equal(queue.wakeOne(), true);
    await waits[0];
    assert.deepEqual(outcomes, ["a:woken"]);
    assert.equal(queue.length, 2);
    queue.wakeAll();
    await Promise.all(waits);
    assert.deepEqual(outcomes, ["a:woken", "b:woken", "c:woken"]);
    assert.equal(queue.wakeOne(), false, "nobody is left");
  });

  test("a timeout ends only its own wait, when the clock reaches it, and leaves no timer", async () => {
    const clock = manualClock();
    const queue = new WaitQueue(clock);
    const outcomes: string[] = [];
    const short = track(queue, "short", outcomes, { timeoutMs: 100 });
    const long = track(queue, "long", outcomes, { timeoutMs: 1000 });
    clock.advance(99);
    await Promise.resolve();
    assert.deepEqual(outcomes, []);
    clock.advance(1);
    await short;
    assert.deepEqual(outcomes, ["short:timeout"]);
    assert.equal(queue.length, 1, "the timed-out waiter left the queue");
    queue.wakeOne();
    await long;
    assert.deepEqual(outcomes, ["short:timeout", "long:woken"]);
    assert.equal(clock.pending(), 0, "waking cleared the other timer");
  });

  test("an abort rejects with its reason and removes the waiter; aborted before is at once", async () => {
    const clock = manualClock();
    const queue = new WaitQueue(clock);
    const outcomes: string[] = [];
    const controller = new AbortController();
    const aborted = track(queue, "x", outcomes, { signal: controller.signal, timeoutMs: 50 });
    const other = track(queue, "y", outcomes);
    controller.abort(new Error("stopped"));
    await aborted;
    assert.deepEqual(outcomes, ["x:aborted:stopped"]);
    assert.equal(queue.length, 1);
    assert.equal(clock.pending(), 0, "the aborted wait's timer is gone");
    queue.wakeOne();
    await other;
    assert.deepEqual(outcomes, ["x:aborted:stopped", "y:woken"]);
    await assert.rejects(queue.wait({ signal: AbortSignal.abort(new Error("early")) }), /early/);
    assert.equal(queue.length, 0);
  });
});
