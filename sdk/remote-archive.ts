import * as pulumi from "@pulumi/pulumi";
import { remoteArchiveProvider } from "../provider";
import type { ConnectionArgs } from "./connection";
import { secretOutputsOf } from "./secret-outputs";
import { TYPE_MODULE, urnInput } from "./resource-type";
import { DynamicResource } from "./dynamic-resource";

export interface RemoteArchiveArgs {
  connection: pulumi.Input<ConnectionArgs>;
  /**
   * What to place: a local folder path, a FileArchive of a folder, or an AssetArchive (names
   * to FileAssets, StringAssets and nested archives).
   */
  source: pulumi.Input<string | pulumi.asset.Archive>;
  /** The folder on the host; a change places the files there and removes them from the old one. */
  remotePath: pulumi.Input<string>;
  /** Remove files in the folder that the source does not have. Default false. */
  prune?: pulumi.Input<boolean>;
  /** Remove the files this resource placed on destroy (the folder stays). Default true. */
  deleteOnDestroy?: pulumi.Input<boolean>;
  /** Seconds each remote step may take (hashing, removing; the transfer too when given). */
  timeout?: pulumi.Input<number>;
}

/**
 * A folder of files on a Windows host: only new and changed files are sent, in one command,
 * each checked by SHA-256 before it replaces its destination. `pulumi refresh` re-hashes the
 * folder and shows changed, missing and (with prune) extra files as drift.
 */
export class RemoteArchive extends DynamicResource {
  /** Relative path to SHA-256 of every file placed (secret when the source is). */
  declare readonly manifest: pulumi.Output<Record<string, string>>;
  declare readonly files: pulumi.Output<number>;
  declare readonly bytes: pulumi.Output<number>;
  /** Files sent by the last create or update. */
  declare readonly sent: pulumi.Output<number>;
  /** Files removed by the last create or update (prune). */
  declare readonly removed: pulumi.Output<number>;
  /** What the last refresh found different: changed, missing and extra files. */
  declare readonly drift: pulumi.Output<{ changed: string[]; missing: string[]; extra: string[] }>;

  constructor(name: string, args: RemoteArchiveArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      remoteArchiveProvider,
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        __urn: urnInput(name, "RemoteArchive", opts),
        ...secretOutputsOf([args.source]),
        manifest: undefined,
        files: undefined,
        bytes: undefined,
        sent: undefined,
        removed: undefined,
        drift: undefined,
      },
      opts,
      TYPE_MODULE,
      "RemoteArchive",
    );
  }
}
