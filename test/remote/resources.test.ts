/**
 * RemoteCommand and RemoteFile on the real Pulumi CLI against the host named by
 * WINRM_TEST_HOST: pulumi-winrm packed and installed into a temporary project (as in the e2e
 * tier), a command guarded by `test` with a `read` for drift, and a file; then a second `up`
 * that changes nothing, an out-of-band change that `refresh` reports and `up` repairs, and a
 * `destroy` that runs `delete` and removes the file. On Windows the commands are PowerShell.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { WinRMClient } from "../../provider/winrm/client";
import { createProject, type E2EProject } from "../e2e/support/project";
import type { OperationResult, ResourceSpec } from "../e2e/support/scenario";
import { configured, openTarget, SKIP_REASON, type Target, text } from "./support/target";

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");
const changed = (result: OperationResult | undefined) =>
  Object.entries(result?.changes ?? {}).filter(([op, count]) => op !== "same" && count > 0);

describe(
  "remote host: resources on the Pulumi engine",
  { skip: configured ? false : SKIP_REASON },
  () => {
    let target: Target;
    let client: WinRMClient;
    let project: E2EProject;
    before(async () => {
      target = await openTarget();
      client = target.client();
      await (await client.files()).mkdirp(target.family.workDir);
      project = await createProject();
    });
    after(async () => {
      project?.close();
      await client?.close();
      await target?.close();
    });

    /** Runs a command in the family's shell through the client, as an operator would by hand. */
    const byHand = async (command: string) => {
      const result = target.family.windows
        ? await client.runPowerShell(command)
        : await client.run(command);
      return { exitCode: result.exitCode, stdout: text(result.stdout) };
    };

    test("up, no-op up, drift found by refresh and repaired by up, destroy", async () => {
      const { family } = target;
      const marker = family.join(family.workDir, "marker.txt");
      const configPath = family.join(family.workDir, "config", "app.ini");
      const config = "color=blue\nreplicas=3\n";
      const resources: ResourceSpec[] = [
        {
          kind: "RemoteCommand",
          name: "feature",
          args: {
            shell: family.shell,
            logging: "none",
            create: family.writeFile(marker, "installed"),
            test: family.exists(marker),
            read: family.readFile(marker),
            delete: family.removeFile(marker),
          },
        },
        { kind: "RemoteFile", name: "config", args: { path: configPath, content: config } },
      ];
      const stack = project.stack("remote", target.connection);

      const [up] = await stack.runOk(resources, ["up"]);
      assert.equal(up?.changes?.create, 3);
      const feature = up?.outputs?.feature?.value as { state: string; skipped: boolean };
      assert.equal(text(feature.state), "installed\n");
      assert.equal(feature.skipped, false);
      assert.equal(await (await client.files()).sha256(configPath), sha256(config));

      const [again] = await stack.runOk(resources, ["up"]);
      assert.deepEqual(changed(again), [], `second up: ${JSON.stringify(again?.changes)}`);

      // By hand on the host: the marker goes, the file is edited.
      assert.equal((await byHand(family.removeFile(marker))).exitCode, 0);
      await (await client.files()).upload(Buffer.from("color=red\n"), configPath);
      const [refresh] = await stack.runOk(resources, ["refresh"]);
      assert.equal(refresh?.changes?.update, 2, `refresh: ${JSON.stringify(refresh?.changes)}`);

      const [repair] = await stack.runOk(resources, ["up"]);
      assert.equal(repair?.changes?.update, 2, `repair: ${JSON.stringify(repair?.changes)}`);
      assert.equal((await byHand(family.exists(marker))).exitCode, 0);
      assert.equal(await (await client.files()).sha256(configPath), sha256(config));

      const [destroy] = await stack.runOk(resources, ["destroy"]);
      assert.equal(destroy?.changes?.delete, 3);
      assert.equal((await byHand(family.exists(marker))).exitCode, 1);
      assert.equal(await (await client.files()).sha256(configPath), "absent");
    });
  },
);
