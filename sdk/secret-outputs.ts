import * as pulumi from "@pulumi/pulumi";

/**
 * Whether any of `sensitive` is a secret: passed to the provider as the input `secretOutputs`,
 * so the provider returns the outputs derived from them (a command's stdout, a file's hash) as
 * secrets. The dynamic provider host strips secrecy from what it hands the provider, so the
 * provider cannot see it for itself.
 *
 * Those outputs are declared without a value: a preview then shows them, and gives dependents,
 * as not known yet, and a preview's diff lists only the inputs the user changed (issue 12,
 * item 6; they were once placeholder inputs, which every update preview showed as added).
 */
export function secretOutputsOf(sensitive: readonly unknown[]): pulumi.Output<boolean> {
  const flags = sensitive
    .filter((value) => value !== undefined)
    .map((value) => pulumi.isSecret(pulumi.output(value)));
  return pulumi.output(Promise.all(flags).then((secret) => secret.some(Boolean)));
}
