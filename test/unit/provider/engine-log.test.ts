/**
 * ResourceLog's lines, where no engine is reachable (this test process is not the dynamic
 * provider host): they go to stderr whole, in order, whatever pieces the text arrived in. The
 * e2e logging test proves the engine path, with the URN, on the Pulumi CLI.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ResourceLog, resourceLog, urnOf } from "../../../provider/engine-log";

/** What `work` writes to stderr. */
async function stderrOf(work: () => Promise<void>): Promise<string> {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk: string | Uint8Array) => {
    written.push(chunk.toString());
    return true;
  };
  try {
    await work();
  } finally {
    process.stderr.write = original;
  }
  return written.join("");
}

test("pieces become whole lines; each stream keeps its unfinished line until flush", async () => {
  const log = new ResourceLog("urn:pulumi:s::p::t::n");
  const shown = await stderrOf(async () => {
    log.write("fir");
    log.write("st\nsec", "out");
    log.write("error one\n", "err");
    log.write("ond\nthi", "out");
    log.write("rd");
    await log.flush();
  });
  assert.equal(shown, "first\nerror one\nsecond\nthird\n");
});

test("the URN comes from the inputs only when it is text", () => {
  assert.deepEqual(urnOf({ __urn: "urn:x" }), { __urn: "urn:x" });
  assert.deepEqual(urnOf({ __urn: 3 }), {});
  assert.ok(resourceLog({}) instanceof ResourceLog);
});
