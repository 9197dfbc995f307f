/**
 * A 200 MB RemoteFile `source` uploads through the engine with the provider's memory bounded:
 * the dynamic provider process (node running @pulumi/pulumi's cmd/dynamic-provider) is found in
 * /proc and its resident memory sampled while `pulumi up` runs.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ResourceSpec } from "./support/scenario";
import { e2eFixture } from "./support/fixture";

const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.E2E_LARGE_FILE_MB ?? 200);

/** Largest RSS (bytes) of any process whose command line names the dynamic provider. */
function providerRss(): number {
  let largest = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!command.includes("dynamic-provider")) continue;
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (match) largest = Math.max(largest, Number(match[1]) * 1024);
    } catch {
      // The process ended while being read.
    }
  }
  return largest;
}

describe(
  "a large RemoteFile source",
  { skip: process.platform !== "linux" && "reads /proc" },
  () => {
    const fixture = e2eFixture("large");

    test("200 MB uploads with the provider's memory bounded, and a second up uploads nothing", async () => {
      const source = join(fixture.work, "source.bin");
      const fd = openSync(source, "w");
      const hash = createHash("sha256");
      const block = randomBytes(MB);
      for (let n = 0; n < SIZE_MB; n++) {
        block.writeUInt32LE(n, 0);
        writeSync(fd, block);
        hash.update(block);
      }
      closeSync(fd);
      const target = join(fixture.work, "remote", "large.bin");
      const stack = fixture.project.stack("large", fixture.connection);
      const resources = [
        { kind: "RemoteFile" as const, name: "large", args: { path: target, source } },
      ];
      /** Runs `up` while sampling the provider's RSS; returns the peak and the result. */
      const upSampled = async (specs: ResourceSpec[], expected: Record<string, number>) => {
        let peak = 0;
        const sampler = setInterval(() => (peak = Math.max(peak, providerRss())), 100);
        try {
          const [up] = await stack.runOk(specs, ["up"]);
          assert.deepEqual(up?.changes, expected);
          return { peak, up };
        } finally {
          clearInterval(sampler);
        }
      };
      // The provider's own footprint (node, @pulumi/pulumi, gRPC) with a one-byte file...
      const small = [
        { kind: "RemoteFile" as const, name: "large", args: { path: target, content: "x" } },
      ];
      const { peak: baseline } = await upSampled(small, { create: 2 });
      // ...then the same resource with the large source.
      const { peak, up } = await upSampled(resources, { same: 1, update: 1 });
      const growth = peak - baseline;
      // Progress reached the Pulumi output while the upload ran, in rising percentages.
      const percents = (up?.diagnostics ?? [])
        .map((diagnostic) => /uploading .*large\.bin: \d+ MiB \((\d+)%\)/.exec(diagnostic.message))
        .filter((match) => match !== null)
        .map((match) => Number(match[1]));
      assert.ok(percents.length >= 5, `progress lines: ${JSON.stringify(percents)}`);
      assert.deepEqual(
        percents,
        [...percents].sort((a, b) => a - b),
      );
      assert.ok(percents.at(-1)! >= 90, `progress ended at ${percents.at(-1)}%`);
      console.log(
        `${SIZE_MB} MB RemoteFile: dynamic provider RSS ${(baseline / MB).toFixed(0)} MB with a 1-byte file, ` +
          `${(peak / MB).toFixed(0)} MB peak during the upload (growth ${(growth / MB).toFixed(0)} MB)`,
      );
      assert.ok(baseline > 0 && peak > 0, "the provider process was sampled");
      assert.ok(growth < 64 * MB, `the provider grew by ${growth} bytes while uploading`);
      assert.equal(statSync(target).size, SIZE_MB * MB);
      assert.equal(
        createHash("sha256").update(readFileSync(target)).digest("hex"),
        hash.digest("hex"),
      );

      const uploads = fixture.host.log.counters.commandsRun;
      const [second] = await stack.runOk(resources, ["up"]);
      assert.deepEqual(second?.changes, { same: 2 });
      assert.equal(
        fixture.host.log.counters.commandsRun,
        uploads,
        "nothing ran: the hashes matched",
      );
    });
  },
);
