// Whether a Python peer can run here, and what node:test should make of it when it cannot.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";

export type PeerAvailability = { available: true } | { available: false; reason: string };

export interface PeerProbe {
  label: string;
  python: string;
  /** Arguments that make `python` exit 0 when it has what the peer needs. */
  args: string[];
  /** What a failed probe means, e.g. "cannot import spnego". */
  cannot: string;
  /** How to install what is missing. */
  setupHint: string;
}

/** Runs the probe: whether `python` exists, starts and has what the peer needs. */
export function probePeerPython(probe: PeerProbe): PeerAvailability {
  const { label, python, setupHint } = probe;
  if (path.isAbsolute(python) && !existsSync(python)) {
    return { available: false, reason: `${label}: ${python} does not exist; ${setupHint}` };
  }
  const run = spawnSync(python, probe.args, { encoding: "utf8", timeout: 30_000 });
  if (run.error !== undefined) {
    return {
      available: false,
      reason: `${label}: cannot run ${python}: ${run.error.message}; ${setupHint}`,
    };
  }
  if (run.status !== 0) {
    const detail = run.stderr.trim().split("\n").pop() ?? "";
    return {
      available: false,
      reason: `${label}: ${python} ${probe.cannot} (${detail}); ${setupHint}`,
    };
  }
  return { available: true };
}

/**
 * For node:test: undefined when the peer is available, else the reason to skip. Under CI (the
 * CI variable set) a missing peer throws instead: CI must not pass by skipping.
 */
export function skipReasonOf(availability: PeerAvailability): string | undefined {
  if (availability.available) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") {
    throw new Error(`${availability.reason} (CI is set, so a missing peer is an error)`);
  }
  return availability.reason;
}
