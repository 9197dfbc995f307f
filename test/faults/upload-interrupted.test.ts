/**
 * Uploads interrupted by the network or the host, on both personas of the loopback host (the
 * Windows one runs the PowerShell upload script in pwsh): whatever the cut, the destination
 * holds the old file or the new one, never a part, and no temporary file stays beside it
 * (issue 16, item 5). A script ended outright (as Windows ends a process when its shell is
 * deleted) cannot clean up: the next upload into the folder removes what it left.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, afterEach, before, describe, test, type TestContext } from "node:test";
import { WinRMError } from "../../provider/errors";
import { WinRMClient } from "../../provider/winrm/client";
import { UPLOAD_TEMP_PREFIX } from "../../provider/winrm/scripts";
import { type Host, startHost } from "../host";
import { findPwsh } from "../host/shell";
import { FaultProxy } from "../support/fault-proxy";
import { havePwsh } from "../support/pwsh";

const USER = { user: "winrm-test", password: randomBytes(12).toString("hex") };
const SIZE = 4 * 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The temporary files of uploads left in `dir`. */
function temporaries(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX));
}

/** Waits up to `ms` for `dir` to hold no temporary file; returns what is left. */
async function temporariesAfter(dir: string, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (temporaries(dir).length > 0 && Date.now() < deadline) await sleep(100);
  return temporaries(dir);
}

/** A process id that no process has now: one that has just exited. */
function deadPid(): number {
  const child = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(child.stdout.trim());
}

for (const persona of ["posix", "windows"] as const) {
  const windows = persona === "windows";
  describe(`interrupted uploads (${persona} persona, fault proxy)`, () => {
    let host: Host;
    let proxy: FaultProxy;
    let dir: string;
    const clients: WinRMClient[] = [];
    const ready = (t: TestContext) => !windows || havePwsh(t);

    function client(): WinRMClient {
      const created = new WinRMClient({
        host: "127.0.0.1",
        port: proxy.port,
        user: USER.user,
        password: USER.password,
        // A slow pwsh start must not count as a host that is down.
        readyTimeoutMs: 30_000,
      });
      clients.push(created);
      return created;
    }

    before(async () => {
      host = await startHost({
        users: [USER],
        persona: windows && findPwsh() === undefined ? "posix" : persona,
      });
      proxy = await FaultProxy.start(host.port);
      dir = mkdtempSync(join(tmpdir(), `pulumi-winrm-faults-${persona}-`));
    });
    afterEach(async () => {
      proxy.reset();
      await Promise.all(clients.splice(0).map((each) => each.close()));
      await proxy.up();
    });
    after(async () => {
      await proxy.close();
      await host.close();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const fraction of [0.1, 0.5, 1]) {
      test(`a connection reset when ${fraction * 100}% is sent: old file kept, no temporary file left`, async (t) => {
        if (!ready(t)) return;
        const files = await client().files();
        const target = join(dir, `cut-${fraction}.bin`);
        writeFileSync(target, "previous version\n");
        let cut = false;
        const began = Date.now();
        const data = randomBytes(SIZE);
        const error = await files
          .upload(data, target, {
            size: SIZE,
            onProgress: ({ sent }) => {
              if (cut || sent < SIZE * fraction) return;
              cut = true;
              proxy.cutAll("reset");
            },
          })
          .then(
            () => undefined,
            (caught: unknown) => caught,
          );
        const tookMs = Date.now() - began;
        assert.ok(cut, "the cut happened");
        if (fraction === 1) {
          // Progress counts what the host accepted: at 100% the host has every byte and the
          // trailer, and may finish the upload though its answer is lost. Then the file is
          // whole; otherwise it is the old one. Never anything in between.
          if (error !== undefined) assert.ok(error instanceof WinRMError, inspect(error));
          const now = readFileSync(target);
          assert.ok(
            now.toString("utf8") === "previous version\n" || sha256(now) === sha256(data),
            "the destination is the old file or the whole new one",
          );
        } else {
          assert.ok(error instanceof WinRMError, inspect(error));
          assert.equal(readFileSync(target, "utf8"), "previous version\n");
        }
        assert.deepEqual(await temporariesAfter(dir, 5000), []);
        t.diagnostic(
          `${persona}: cut at ${fraction * 100}%: ${error instanceof Error ? error.name : "finished"} after ${tookMs} ms`,
        );
      });
    }

    test("a script ended outright leaves its temporary file; the next upload into the folder removes it", async (t) => {
      if (!ready(t)) return;
      const target = join(dir, "killed.bin");
      writeFileSync(target, "previous version\n");
      const files = await client().files();
      // The host goes away in the middle of the upload, and its script is then ended outright,
      // as Windows ends a shell's processes: no clean-up runs.
      let cut = false;
      const upload = files.upload(randomBytes(SIZE), target, {
        size: SIZE,
        onProgress: ({ sent }) => {
          if (cut || sent < SIZE / 2) return;
          cut = true;
          void proxy.down();
        },
      });
      const outcome = upload.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      while (!cut) await sleep(20);
      // The host may still be starting the script (pwsh takes a second) with the input
      // buffered: the script then creates its file and waits for the rest.
      for (let n = 0; n < 100 && temporaries(dir).length === 0; n++) await sleep(100);
      const [left] = temporaries(dir);
      assert.ok(left, "the interrupted upload's temporary file is there");
      const pid = Number(left.slice(UPLOAD_TEMP_PREFIX.length).split("-")[0]);
      assert.ok(Number.isInteger(pid) && pid > 0, `a process id in ${left}`);
      process.kill(pid, "SIGKILL");
      await proxy.up();
      assert.ok((await outcome) instanceof WinRMError);
      assert.deepEqual(temporaries(dir), [left], "killed before its clean-up");
      assert.equal(readFileSync(target, "utf8"), "previous version\n");

      // Files of the same kind that must stay: a live upload's, a replaced file kept aside,
      // and one from a release that put no process id in the name.
      const live = `${UPLOAD_TEMP_PREFIX}${process.pid}-live`;
      const aside = `${UPLOAD_TEMP_PREFIX}${deadPid()}-aside.old`;
      const unnumbered = `${UPLOAD_TEMP_PREFIX}AbCdEfGhIj`;
      const stale = `${UPLOAD_TEMP_PREFIX}${deadPid()}-stale`;
      for (const name of [live, aside, unnumbered, stale]) writeFileSync(join(dir, name), "x");
      const data = randomBytes(1024);
      const result = await (await client().files()).upload(data, target);
      assert.equal(result.sha256, sha256(data));
      assert.deepEqual(readFileSync(target), data);
      assert.deepEqual(temporaries(dir).sort(), [aside, live, unnumbered].sort());
    });
  });
}
