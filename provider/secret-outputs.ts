/**
 * Outputs the provider returns as secrets. The dynamic provider host neither hands the
 * provider secrets nor marks its results secret, but it passes results to the engine as they
 * are, and the engine reads an object carrying Pulumi's secret signature as a secret value:
 * the wire form `pulumi.secret` itself produces (Pulumi's property value encoding: the key
 * SECRET_SIGNATURE_KEY with SECRET_SIGNATURE, and the plain value under `value`).
 *
 * The SDK tells the provider which outputs must be secret with the input `secretOutputs`.
 */

/** The key that marks an object as a special Pulumi value (`specialSigKey` in the Node SDK). */
export const SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d";
/** The signature of a secret value (`specialSecretSig` in the Node SDK). */
export const SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270";

/** `outputs` with the values under `names` marked secret when `secret` is true. */
export function withSecretOutputs<T extends Record<string, unknown>>(
  outputs: T,
  names: readonly string[],
  secret: boolean | undefined,
): T {
  if (!secret) return outputs;
  const marked: Record<string, unknown> = { ...outputs };
  for (const name of names) {
    const value = marked[name];
    if (value !== undefined && !isSecretValue(value)) {
      marked[name] = { [SECRET_SIGNATURE_KEY]: SECRET_SIGNATURE, value };
    }
  }
  return marked as T;
}

function isSecretValue(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SECRET_SIGNATURE_KEY] === SECRET_SIGNATURE
  );
}
