/**
 * The driver: copied into the temporary project (as driver.js) and run there with node, so that
 * the project's single copy of @pulumi/pulumi loads pulumi-winrm from node_modules exactly as a
 * user's program would, and the dynamic providers are serialized as `require("pulumi-winrm/...")`.
 *
 *   node driver.js SCENARIO.json RESULT.json
 *
 * It builds an inline program from the scenario's resources, runs the scenario's operations on
 * one stack through the Automation API, and writes what happened to RESULT.json.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as automation from "@pulumi/pulumi/automation";
import type {
  RebootArgs,
  RemoteArchiveArgs,
  RemoteCommandArgs,
  RemoteFileArgs,
} from "../../../sdk";
import type {
  ArchiveValue,
  AssetValue,
  Diagnostic,
  DriverResult,
  OperationResult,
  OutputRef,
  ResourceSpec,
  Scenario,
  StepRecord,
} from "./scenario";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const winrm = require("pulumi-winrm") as typeof import("../../../sdk");

function isAsset(value: unknown): value is AssetValue {
  return value !== null && typeof value === "object" && "$asset" in value;
}

function isArchive(value: unknown): value is ArchiveValue {
  return value !== null && typeof value === "object" && "$archive" in value;
}

function archiveOf(value: ArchiveValue): pulumi.asset.Archive {
  if (value.$archive === "file") return new pulumi.asset.FileArchive(value.path);
  return new pulumi.asset.AssetArchive(
    Object.fromEntries(
      Object.entries(value.assets).map(([name, inner]) => [
        name,
        isArchive(inner) ? archiveOf(inner) : (decode(inner, {}) as pulumi.asset.Asset),
      ]),
    ),
  );
}

function isOutputRef(value: unknown): value is OutputRef {
  return value !== null && typeof value === "object" && "$output" in value;
}

/** Turns asset and output-reference markers, at any depth of plain objects, into values. */
function decode(value: unknown, resources: Record<string, pulumi.Resource>): unknown {
  if (isAsset(value)) {
    return value.$asset === "file"
      ? new pulumi.asset.FileAsset(value.value)
      : new pulumi.asset.StringAsset(value.value);
  }
  if (isArchive(value)) return archiveOf(value);
  if (isOutputRef(value)) {
    const source = resources[value.$output] as unknown as Record<string, pulumi.Output<unknown>>;
    const output = source?.[value.property];
    if (!output) throw new Error(`no output ${value.property} of resource ${value.$output}`);
    const template = value.template ?? "{}";
    return output.apply((resolved) => template.replace("{}", String(resolved)));
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, decode(inner, resources)]),
    );
  }
  return value;
}

/** A dynamic provider that does nothing: what the engine costs per resource by itself. */
const noopProvider: pulumi.dynamic.ResourceProvider = {
  create: (inputs: Record<string, unknown>) => Promise.resolve({ id: "noop", outs: inputs }),
};

class Noop extends pulumi.dynamic.Resource {
  constructor(name: string, props: Record<string, unknown>) {
    super(noopProvider, name, props);
  }
}

function construct(
  kind: ResourceSpec["kind"],
  name: string,
  args: Record<string, unknown>,
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource {
  switch (kind) {
    case "RemoteCommand":
      return new winrm.RemoteCommand(name, args as unknown as RemoteCommandArgs, opts);
    case "RemoteFile":
      return new winrm.RemoteFile(name, args as unknown as RemoteFileArgs, opts);
    case "Reboot":
      return new winrm.Reboot(name, args as unknown as RebootArgs, opts);
    case "RemoteArchive":
      return new winrm.RemoteArchive(name, args as unknown as RemoteArchiveArgs, opts);
    case "Noop":
      return new Noop(name, { ...args, connection: undefined });
    case "SshCommand": {
      // Loaded only here: the package is installed only where its plugin could be had.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const command = require("@pulumi/command") as {
        remote: {
          Command: new (name: string, args: Record<string, unknown>) => pulumi.CustomResource;
        };
      };
      return new command.remote.Command(name, args);
    }
  }
}

function program(scenario: Scenario): automation.PulumiFn {
  return () => {
    const outputs: Record<string, pulumi.Resource> = {};
    for (const spec of scenario.resources) {
      const connection = decode({ ...scenario.connection, ...spec.connection }, outputs) as Record<
        string,
        unknown
      >;
      if (scenario.secretPassword !== false && typeof connection.password === "string") {
        connection.password = pulumi.secret(connection.password);
      }
      const args: Record<string, unknown> = { connection };
      for (const [name, value] of Object.entries(spec.args)) {
        const decoded = decode(value, outputs);
        args[name] = spec.secrets?.includes(name) ? pulumi.secret(decoded) : decoded;
      }
      const dependsOn = (spec.dependsOn ?? []).map((name) => {
        const resource = outputs[name];
        if (resource === undefined)
          throw new Error(`${spec.name} depends on ${name}, not declared before it`);
        return resource;
      });
      outputs[spec.name] = construct(spec.kind, spec.name, args, { dependsOn });
    }
    return Promise.resolve(scenario.exportResources === false ? {} : outputs);
  };
}

/**
 * The deployment exactly as the file:// backend stored it, secrets as ciphertext. (The
 * Automation API's exportStack passes --show-secrets, which would decrypt them.)
 */
function storedDeployment(scenario: Scenario): unknown {
  const file = join(
    scenario.backendDir,
    ".pulumi",
    "stacks",
    scenario.project,
    `${scenario.stack}.json`,
  );
  if (!existsSync(file)) return { resources: [] };
  const stored = JSON.parse(readFileSync(file, "utf8")) as { checkpoint?: { latest?: unknown } };
  return stored.checkpoint?.latest ?? { resources: [] };
}

async function run(scenario: Scenario): Promise<DriverResult> {
  const stack = await automation.LocalWorkspace.createOrSelectStack(
    { projectName: scenario.project, stackName: scenario.stack, program: program(scenario) },
    {
      workDir: scenario.workDir,
      projectSettings: {
        name: scenario.project,
        runtime: "nodejs",
        backend: { url: `file://${scenario.backendDir}` },
      },
      envVars: { PULUMI_CONFIG_PASSPHRASE: scenario.passphrase },
    },
  );
  const results: OperationResult[] = [];
  for (const operation of scenario.operations) {
    const started = Date.now();
    const steps: StepRecord[] = [];
    const diagnostics: Diagnostic[] = [];
    let output = "";
    const onOutput = (text: string) => (output += text);
    const onEvent = (event: automation.EngineEvent) => {
      const step = event.resourcePreEvent?.metadata;
      if (step && !step.type.startsWith("pulumi:pulumi:")) {
        steps.push({
          op: step.op,
          urn: step.urn,
          name: step.urn.slice(step.urn.lastIndexOf("::") + 2),
          diffs: step.diffs,
          changedInputs: changedInputs(step.old?.inputs, step.new?.inputs),
        });
      }
      const diagnostic = event.diagnosticEvent;
      if (diagnostic)
        diagnostics.push({
          severity: diagnostic.severity,
          message: diagnostic.message,
          urn: diagnostic.urn ?? "",
        });
    };
    const result: OperationResult = {
      operation,
      ok: true,
      steps,
      diagnostics,
      output,
      durationMs: 0,
    };
    try {
      switch (operation) {
        case "up": {
          const up = await stack.up({ onOutput, onEvent, parallel: scenario.parallel });
          result.changes = up.summary.resourceChanges;
          result.outputs = up.outputs;
          break;
        }
        case "preview": {
          const preview = await stack.preview({ onOutput, onEvent, diff: true });
          result.changes = preview.changeSummary;
          break;
        }
        case "refresh": {
          const refresh = await stack.refresh({ onOutput, onEvent, parallel: scenario.parallel });
          result.changes = refresh.summary.resourceChanges;
          break;
        }
        case "destroy": {
          const destroy = await stack.destroy({ onOutput, onEvent, parallel: scenario.parallel });
          result.changes = destroy.summary.resourceChanges;
          break;
        }
        case "export":
          result.deployment = storedDeployment(scenario);
          break;
      }
    } catch (error) {
      result.ok = false;
      result.error = error instanceof Error ? error.message : String(error);
    }
    result.output = output;
    result.durationMs = Date.now() - started;
    results.push(result);
    if (!result.ok) break;
  }
  return { operations: results };
}

/**
 * The inputs whose old and new values differ in a step's event: what `pulumi preview --diff`
 * lists as added, removed or changed (a value not known yet counts as changed).
 */
function changedInputs(
  olds: Record<string, unknown> | undefined,
  news: Record<string, unknown> | undefined,
): string[] {
  if (olds === undefined || news === undefined) return [];
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key])).sort();
}

const [scenarioFile, resultFile] = process.argv.slice(2);
if (scenarioFile === undefined || resultFile === undefined) {
  console.error("usage: node driver.js SCENARIO.json RESULT.json");
  process.exit(2);
}
run(JSON.parse(readFileSync(scenarioFile, "utf8")) as Scenario).then(
  (result) => writeFileSync(resultFile, JSON.stringify(result)),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
