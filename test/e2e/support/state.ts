/** Reading the exported stack state in the end-to-end tests. */
import assert from "node:assert/strict";
import type { OperationResult } from "./scenario";

/** The outputs of the resource `name` in an export operation's deployment. */
export function outputsOf(
  result: OperationResult | undefined,
  name: string,
): Record<string, unknown> {
  assert.ok(result?.deployment, "the export operation returned no deployment");
  const { resources = [] } = result.deployment as {
    resources?: Array<{ urn: string; outputs?: Record<string, unknown> }>;
  };
  const found = resources.find((resource) => resource.urn.endsWith(`::${name}`));
  assert.ok(found?.outputs, `no resource ${name} in the exported state`);
  return found.outputs;
}
