/**
 * What `seq 1 N` prints, as a SHA-256: tests of large output compare what arrived with it,
 * without keeping megabytes of expected text beside the received bytes.
 */
import { createHash } from "node:crypto";

/** The hex SHA-256 of `seq 1 count`'s output, followed by `after` (more lines, if any). */
export function seqOutputSha256(count: number, after = ""): string {
  const hash = createHash("sha256");
  // In blocks, so that a few million lines never make one string of tens of megabytes.
  const BLOCK = 100_000;
  for (let from = 1; from <= count; from += BLOCK) {
    const to = Math.min(count, from + BLOCK - 1);
    hash.update(Array.from({ length: to - from + 1 }, (_, index) => `${from + index}\n`).join(""));
  }
  return hash.update(after).digest("hex");
}
