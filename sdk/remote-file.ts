import * as pulumi from "@pulumi/pulumi";
import { remoteFileProvider } from "../provider";
import type { ConnectionArgs } from "./connection";
import { secretOutputsOf } from "./secret-outputs";
import { TYPE_MODULE, urnInput, withLegacyTypeAlias } from "./resource-type";
import { DynamicResource } from "./dynamic-resource";

export interface RemoteFileArgs {
  connection: pulumi.Input<ConnectionArgs>;
  /** Destination path on the host. A change replaces the file (the old one is deleted first). */
  path: pulumi.Input<string>;
  /** The file's content as text (UTF-8). Exactly one of content, source and asset. */
  content?: pulumi.Input<string>;
  /** A local file to upload. */
  source?: pulumi.Input<string>;
  /** A FileAsset or StringAsset. */
  asset?: pulumi.Input<pulumi.asset.FileAsset | pulumi.asset.StringAsset>;
  /** Remove the file on destroy. Default true. */
  deleteOnDestroy?: pulumi.Input<boolean>;
  /**
   * Seconds each remote step may take (hashing, removing, creating the folder; the upload too
   * when given). Default 300 for the steps and no limit for the upload, whose progress the
   * Pulumi output shows.
   */
  timeout?: pulumi.Input<number>;
}

/**
 * A file on a Windows host, uploaded over WinRM only when its SHA-256 differs, verified on the
 * host before it replaces the destination. `pulumi refresh` notices edits and deletions.
 */
export class RemoteFile extends DynamicResource {
  declare readonly sha256: pulumi.Output<string>;
  declare readonly size: pulumi.Output<number>;
  /** The remote file's hash at the last apply or refresh ("absent" when missing). */
  declare readonly remoteSha256: pulumi.Output<string>;
  declare readonly uploaded: pulumi.Output<boolean>;

  constructor(name: string, args: RemoteFileArgs, opts?: pulumi.CustomResourceOptions) {
    // The hash and size of secret content are secret too: a SHA-256 confirms a guessed
    // password file, and a size narrows the guess.
    super(
      remoteFileProvider,
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        __urn: urnInput(name, "RemoteFile", opts),
        ...secretOutputsOf([args.content, args.source, args.asset]),
        sha256: undefined,
        size: undefined,
        remoteSha256: undefined,
        uploaded: undefined,
      },
      withLegacyTypeAlias(opts),
      TYPE_MODULE,
      "RemoteFile",
    );
  }
}
