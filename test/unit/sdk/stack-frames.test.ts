/**
 * Resources are declared with V8 capturing no stack frames (sdk/stack-frames.ts): what that
 * rests on in the Pulumi SDK, and what it must leave as it was.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { RemoteCommand } from "../../../sdk";
import { useEchoMocks } from "../../support/pulumi-mocks";
import { stackFramesOff } from "../../../sdk/stack-frames";

const connection = { host: "127.0.0.1", user: "u", password: pulumi.secret("p") };

before(async () => {
  await useEchoMocks("project", "stack");
});

test("while off, a new Error's stack is empty, and Pulumi's source positions still find the caller", () => {
  const limit = Error.stackTraceLimit;
  const frames = stackFramesOff();
  try {
    assert.equal(new Error("x").stack, "Error: x", "no frames: the SDK's per-promise traces");
    // Resource.callsites() is what the SDK takes a resource's source position from: it lifts
    // the limit for itself. Were that to change, declared resources would lose their position.
    const resource = pulumi.Resource as unknown as { callsites(): Array<{ file?: string }> };
    assert.ok(
      resource.callsites().some((site) => site.file === __filename),
      "the caller's file is among the callsites",
    );
  } finally {
    frames.restore();
  }
  assert.equal(Error.stackTraceLimit, limit);
});

test("declaring a resource leaves the limit as it was, and a failure keeps a stack from here", () => {
  const limit = Error.stackTraceLimit;
  const declared = new RemoteCommand("r", { connection, create: "echo hi" });
  assert.ok(pulumi.Resource.isInstance(declared));
  assert.equal(Error.stackTraceLimit, limit);
  assert.throws(
    () => new RemoteCommand(undefined as unknown as string, { connection, create: "echo hi" }),
    (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, /name/i);
      assert.ok(error.stack?.includes(__filename), error.stack);
      return true;
    },
  );
  assert.equal(Error.stackTraceLimit, limit);
});
