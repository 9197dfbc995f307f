/**
 * The provider marks outputs secret in Pulumi's wire form; the Node SDK's own constants are
 * the reference for that form.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
  SECRET_SIGNATURE,
  SECRET_SIGNATURE_KEY,
  withSecretOutputs,
} from "../../../provider/secret-outputs";

test("the secret signature is the Pulumi SDK's", () => {
  assert.equal(SECRET_SIGNATURE_KEY, pulumi.runtime.specialSigKey);
  assert.equal(SECRET_SIGNATURE, pulumi.runtime.specialSecretSig);
});

test("only the named outputs become secret, once, and only when asked", () => {
  const outputs = { stdout: "a", state: "", exitCode: 0 };
  assert.deepEqual(withSecretOutputs(outputs, ["stdout", "state", "absent"], false), outputs);
  const once = withSecretOutputs(outputs, ["stdout", "state", "absent"], true);
  const secret = (value: unknown) => ({ [SECRET_SIGNATURE_KEY]: SECRET_SIGNATURE, value });
  assert.deepEqual(once, { stdout: secret("a"), state: secret(""), exitCode: 0 });
  assert.deepEqual(withSecretOutputs(once, ["stdout"], true), once, "not wrapped twice");
});
