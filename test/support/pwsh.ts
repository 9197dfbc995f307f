/**
 * Tests that run PowerShell for real need pwsh on the loopback host. Under CI its absence is a
 * failure (test/setup/pwsh.sh must have installed it); elsewhere the test skips and says why.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { findPwsh } from "../host/shell";

/** True when pwsh is here; otherwise fails the test under CI, or skips it with the reason. */
export function havePwsh(t: TestContext): boolean {
  if (findPwsh() !== undefined) return true;
  const reason = "pwsh is not installed (bash test/setup/pwsh.sh installs it)";
  if (process.env.CI) assert.fail(`${reason}; CI must have it`);
  t.skip(reason);
  return false;
}
