import * as pulumi from "@pulumi/pulumi";

/**
 * A placeholder input for outputs whose secrecy must follow `sensitive` inputs. The engine
 * marks an output secret when the input of the same name is (the dynamic provider host itself
 * does not accept secrets), so a resource passes this under each such output's name: it is
 * secret exactly when one of `sensitive` is. During a preview the engine shows a resource's
 * inputs as its outputs, so there it is unknown: a resource built from such an output must see
 * "not known yet", not an empty string.
 */
export function secretPlaceholder(sensitive: readonly unknown[]): pulumi.Output<unknown> {
  const inputs = sensitive
    .filter((value) => value !== undefined)
    .map((value) => pulumi.output(value));
  return pulumi
    .all(inputs)
    .apply(() =>
      pulumi.runtime.isDryRun() ? pulumi.output(pulumi.unknown as unknown as string) : "",
    );
}
