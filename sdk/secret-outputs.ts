import * as pulumi from "@pulumi/pulumi";

/**
 * Whether any of `sensitive` is a secret, as props to spread into a resource's: the input
 * `secretOutputs`, which makes the provider return the outputs derived from them (a command's
 * stdout, a file's hash) as secrets. The dynamic provider host strips secrecy from what it hands the provider, so the
 * provider cannot see it for itself. It is `true` or absent: a resource with nothing secret
 * stores no flag (issue 19: state per resource).
 *
 * Those outputs are declared without a value: a preview then shows them, and gives dependents,
 * as not known yet, and a preview's diff lists only the inputs the user changed (issue 12,
 * item 6; they were once placeholder inputs, which every update preview showed as added).
 */
export function secretOutputsOf(sensitive: readonly unknown[]): {
  secretOutputs?: pulumi.Output<true | undefined>;
} {
  const given = sensitive.filter((value) => value !== undefined);
  // Only an Output can be secret. Plain values (the usual commands) settle it now, with no
  // Output to wire and no property to register: each costs the program CPU time per resource
  // (issue 19).
  if (!given.some(holdsOutput)) return {};
  const flags = given.map((value) => pulumi.isSecret(pulumi.output(value)));
  return {
    secretOutputs: pulumi.output(
      Promise.all(flags).then((secret) => (secret.some(Boolean) ? true : undefined)),
    ),
  };
}

/** Whether `value` is, or holds at any depth, an Output or a promise (which may yield one). */
function holdsOutput(value: unknown): boolean {
  if (pulumi.Output.isInstance(value)) return true;
  if (value === null || typeof value !== "object") return false;
  if (typeof (value as { then?: unknown }).then === "function") return true;
  return Object.values(value).some(holdsOutput);
}
