/**
 * The contract between the end-to-end tests and the driver script that runs inside the
 * temporary project: a scenario (JSON, written to a file) in, a result (JSON) out.
 */

/** A stack operation, run in order; the first failure stops the rest. */
export type Operation = "up" | "preview" | "refresh" | "destroy" | "export";

/** A value that the driver turns into a Pulumi asset before handing it to a resource. */
export interface AssetValue {
  $asset: "string" | "file";
  value: string;
}

/**
 * A value that the driver turns into a Pulumi archive: a FileArchive of a path, or an
 * AssetArchive of names to assets and archives.
 */
export type ArchiveValue =
  | { $archive: "file"; path: string }
  | { $archive: "assets"; assets: Record<string, AssetValue | ArchiveValue> };

/**
 * A value taken from an earlier resource's output: unknown during a preview that creates or
 * changes that resource. `template` ("echo {}") wraps it; "{}" stands for the value.
 */
export interface OutputRef {
  $output: string;
  property: string;
  template?: string;
}

export interface ResourceSpec {
  /**
   * "Noop" is a dynamic resource that does nothing (the engine's own cost, for benchmarks);
   * "SshCommand" is pulumi-command's remote.Command (needs @pulumi/command and its plugin).
   */
  kind: "RemoteCommand" | "RemoteFile" | "RemoteArchive" | "Reboot" | "Noop" | "SshCommand";
  /** The resource's logical name; also the name of the stack output that holds it. */
  name: string;
  /** The resource's arguments, except `connection` (the scenario's, unless overridden here). */
  args: Record<string, unknown>;
  /** Names of arguments to wrap in pulumi.secret(...). */
  secrets?: string[];
  /** Fields merged over the scenario's connection for this resource (OutputRefs allowed). */
  connection?: Record<string, unknown>;
  /** Names of earlier resources this one depends on (the dependsOn resource option). */
  dependsOn?: string[];
}

export interface Scenario {
  /** The Pulumi project name. */
  project: string;
  stack: string;
  /** A folder for the `file://` backend (shared across stacks is fine). */
  backendDir: string;
  /** The workspace folder of this stack (Pulumi.yaml, Pulumi.<stack>.yaml). */
  workDir: string;
  passphrase: string;
  /** host, port, user, password, ... as ConnectionArgs takes them. */
  connection: Record<string, unknown>;
  /** Pass the connection's password as pulumi.secret(...). Default true. */
  secretPassword?: boolean;
  resources: ResourceSpec[];
  operations: Operation[];
  /**
   * Export every resource as a stack output (the default: tests read outputs there). The
   * scale benchmark turns it off, so the state it measures holds the resources alone.
   */
  exportResources?: boolean;
  /** The engine's --parallel for up, refresh and destroy; the CLI's default when absent. */
  parallel?: number;
}

/** One engine step as the CLI reported it (resourcePreEvent), for resources of the program. */
export interface StepRecord {
  op: string;
  urn: string;
  /** The resource's logical name (the last URN component). */
  name: string;
  diffs?: string[];
  /** Inputs that differ between the step's old and new state (empty for a create or delete). */
  changedInputs: string[];
}

export interface Diagnostic {
  /** "debug", "info", "info#err", "warning" or "error". */
  severity: string;
  message: string;
  /** The resource the message is attributed to; "" for the stack or the engine. */
  urn: string;
}

export interface OperationResult {
  operation: Operation;
  ok: boolean;
  /** The error's message when the operation failed (it includes the CLI's output). */
  error?: string;
  /** summary.resourceChanges for up, refresh and destroy; changeSummary for preview. */
  changes?: Record<string, number>;
  /** Stack outputs after up: name -> { value, secret }. */
  outputs?: Record<string, { value: unknown; secret: boolean }>;
  /** export: the deployment as the backend's state file holds it (secrets encrypted). */
  deployment?: unknown;
  steps: StepRecord[];
  /** Diagnostics (provider and engine messages) in order, debug ones included. */
  diagnostics: Diagnostic[];
  /** Everything the CLI printed for this operation. */
  output: string;
  durationMs: number;
}

export interface DriverResult {
  operations: OperationResult[];
}
