/**
 * RemoteArchive's bundle interrupted by the network (issue 17), on both personas of the
 * loopback host: whatever the cut, every destination holds its old content or its new, never a
 * part, and no staging folder stays in the root once the host has ended the script.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, afterEach, before, describe, test, type TestContext } from "node:test";
import { WinRMError } from "../../provider/errors";
import type { BundleEntry } from "../../provider/winrm/bundle";
import { WinRMClient } from "../../provider/winrm/client";
import { UPLOAD_TEMP_PREFIX } from "../../provider/winrm/scripts";
import { type Host, startHost } from "../host";
import { findPwsh } from "../host/shell";
import { FaultProxy } from "../support/fault-proxy";
import { havePwsh } from "../support/pwsh";

const USER = { user: "winrm-test", password: randomBytes(12).toString("hex") };
const FILES = 8;
/** Large enough that the cut lands while the bundle still travels: the stdin encoder reads ahead. */
const SIZE = 3 * 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function staging(root: string): string[] {
  return existsSync(root)
    ? readdirSync(root).filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX))
    : [];
}

for (const persona of ["posix", "windows"] as const) {
  const windows = persona === "windows";
  describe(`interrupted bundles (${persona} persona, fault proxy)`, () => {
    let host: Host;
    let proxy: FaultProxy;
    let dir: string;
    const clients: WinRMClient[] = [];
    const ready = (t: TestContext) => !windows || havePwsh(t);

    before(async () => {
      host = await startHost({
        users: [USER],
        persona: windows && findPwsh() === undefined ? "posix" : persona,
      });
      proxy = await FaultProxy.start(host.port);
      dir = mkdtempSync(join(tmpdir(), `pulumi-winrm-bundle-faults-${persona}-`));
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

    for (const fraction of [0.25, 0.75]) {
      test(`a reset when ${fraction * 100}% of the files are sent: every file old or new, no staging left`, async (t) => {
        if (!ready(t)) return;
        const client = new WinRMClient({
          host: "127.0.0.1",
          port: proxy.port,
          ...USER,
          readyTimeoutMs: 30_000,
        });
        clients.push(client);
        const files = await client.files();
        const root = join(dir, `cut-${fraction}`);
        mkdirSync(root);
        const old = new Map<string, Buffer>();
        const entries: BundleEntry[] = [];
        for (let n = 0; n < FILES; n++) {
          const path = `f${n}.bin`;
          old.set(path, Buffer.from(`old ${n}\n`));
          writeFileSync(join(root, path), old.get(path)!);
          const data = randomBytes(SIZE);
          entries.push({ path, size: SIZE, sha256: sha256(data), open: () => data });
        }
        let cut = false;
        const error = await files
          .placeFiles(root, entries, {
            onFile: (_entry, index) => {
              if (cut || index + 1 < FILES * fraction) return;
              cut = true;
              proxy.cutAll("reset");
            },
          })
          .then(
            () => undefined,
            (caught: unknown) => caught,
          );
        assert.ok(cut, "the cut happened");
        // A cut that lands after the last byte went may leave the placement whole.
        if (error !== undefined) assert.ok(error instanceof WinRMError, inspect(error));
        t.diagnostic(
          `${persona}, cut at ${fraction * 100}%: ${error instanceof Error ? error.name : "finished whole"}`,
        );
        // The host ends the script once its connection is gone; its clean-up then runs.
        const deadline = Date.now() + 10_000;
        while (staging(root).length > 0 && Date.now() < deadline) await sleep(100);
        assert.deepEqual(staging(root), []);
        for (const entry of entries) {
          const now = readFileSync(join(root, entry.path));
          const whole = sha256(now) === entry.sha256;
          if (error === undefined) assert.ok(whole, `${entry.path} is new`);
          else assert.ok(now.equals(old.get(entry.path)!) || whole, `${entry.path} is whole`);
        }
      });
    }
  });
}
