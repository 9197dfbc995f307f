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
): pulumi.Input<string> {
  const fullType = `pulumi-nodejs:dynamic/${TYPE_MODULE}:${type}`;
  // A resource without a parent is a child of the stack, whose type the URN leaves out: the
  // URN is known now, as text, and needs no Output (each costs the program CPU time per
  // resource, issue 19). Under a parent it derives from the parent's URN.
  if (opts?.parent === undefined) {
    return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${fullType}::${name}`;
  }
  return pulumi.createUrn(name, fullType, opts.parent);
}
