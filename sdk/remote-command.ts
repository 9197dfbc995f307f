import * as pulumi from "@pulumi/pulumi";
import { remoteCommandProvider } from "../provider";
import type { ConnectionArgs } from "./connection";
import { secretOutputsOf } from "./secret-outputs";
import { TYPE_MODULE, urnInput, withLegacyTypeAlias } from "./resource-type";
import { DynamicResource } from "./dynamic-resource";

export interface RemoteCommandArgs {
  connection: pulumi.Input<ConnectionArgs>;
  /** Brings the host to the desired state; runs on create (and on update without `update`). */
  create: pulumi.Input<string>;
  /** Runs when inputs change; defaults to `create`. */
  update?: pulumi.Input<string>;
  /** Runs on destroy and before a replacement. */
  delete?: pulumi.Input<string>;
  /** Exit code 0 means the host is already in the desired state: create/update are skipped. */
  test?: pulumi.Input<string>;
  /** Prints the observed state; `pulumi refresh` compares it to detect drift. */
  read?: pulumi.Input<string>;
  /** "powershell" (default) or "cmd" (the host's command processor: cmd.exe, or sh elsewhere). */
  shell?: pulumi.Input<"powershell" | "cmd">;
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  stdin?: pulumi.Input<string>;
  workingDirectory?: pulumi.Input<string>;
  /** Seconds each command may run before it is terminated. */
  timeout?: pulumi.Input<number>;
  /** Any change replaces the resource: `delete` then `create` run. */
  triggers?: pulumi.Input<unknown[]>;
  /** What to stream to the Pulumi output while commands run. Default "stdoutAndStderr". */
  logging?: pulumi.Input<"stdout" | "stderr" | "stdoutAndStderr" | "none">;
}

/**
 * Runs commands on a Windows host over WinRM, with Test/Set idempotence and drift detection.
 * When any command, stdin or environment value is a secret, stdout, stderr and state are
 * secret in the stack state too, and the output is not streamed.
 */
export class RemoteCommand extends DynamicResource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;
  declare readonly exitCode: pulumi.Output<number>;
  /** What `read` printed, at the last apply or refresh. */
  declare readonly state: pulumi.Output<string>;
  /** True when `test` said the host was already in the desired state. */
  declare readonly skipped: pulumi.Output<boolean>;
  /** False when the last refresh found the host out of the desired state. */
  declare readonly inSync: pulumi.Output<boolean>;

  constructor(name: string, args: RemoteCommandArgs, opts?: pulumi.CustomResourceOptions) {
    const sensitive = [
      args.create,
      args.update,
      args.delete,
      args.test,
      args.read,
      args.stdin,
      args.environment,
    ];
    super(
      remoteCommandProvider,
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        __urn: urnInput(name, "RemoteCommand", opts),
        ...secretOutputsOf(sensitive),
        stdout: undefined,
        stderr: undefined,
        state: undefined,
        exitCode: undefined,
        skipped: undefined,
        inSync: undefined,
      },
      withLegacyTypeAlias(opts),
      TYPE_MODULE,
      "RemoteCommand",
    );
  }
}
