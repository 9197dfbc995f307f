import * as pulumi from "@pulumi/pulumi";

/** The module of the resources' type tokens: `pulumi-nodejs:dynamic/winrm:<Type>`. */
export const TYPE_MODULE = "winrm";

/**
 * The type every dynamic resource had before the resources got their own names (releases up
 * to 0.1.0). Aliasing it keeps a resource created then the same resource: an upgrade neither
 * replaces nor re-runs it.
 */
const LEGACY_TYPE = "pulumi-nodejs:dynamic:Resource";

/** The caller's options, with the alias from the legacy type added. */
export function withLegacyTypeAlias(
  opts: pulumi.CustomResourceOptions | undefined,
): pulumi.CustomResourceOptions {
  return { ...opts, aliases: [...(opts?.aliases ?? []), { type: LEGACY_TYPE }] };
}

/**
 * The URN the resource will have, passed to the provider as the input `__urn` so that what a
 * command prints is shown under its resource, not under the stack (provider/engine-log.ts).
 * The engine's display leaves out inputs whose names begin with "__".
 */
export function urnInput(
  name: string,
  type: string,
  opts: pulumi.CustomResourceOptions | undefined,
): pulumi.Output<string> {
  return pulumi.createUrn(name, `pulumi-nodejs:dynamic/${TYPE_MODULE}:${type}`, opts?.parent);
}
