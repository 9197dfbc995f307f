/**
 * What RemoteCommand and RemoteFile do alike with their inputs: pick them out of the engine's
 * property bag, compare old and new values (a value still unknown in preview counts as
 * changed), and tell a connection change that keeps the host from one that moves it.
 */
import { type CheckFailure, type ConnectionArgs, isUnknown } from "./connection";

/** The inputs among `props` (the engine also passes outputs), without undefined ones. */
export function pickInputs<T>(props: Record<string, unknown>, keys: readonly string[]): T {
  const inputs: Record<string, unknown> = {};
  for (const key of keys) if (props[key] !== undefined) inputs[key] = props[key];
  return inputs as T;
}

/** Equal as JSON, with undefined and null alike. */
export function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** The keys whose value differs, or is not known yet. */
export function changedKeys<K extends string>(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  keys: readonly K[],
): K[] {
  return keys.filter((key) => !same(olds[key], news[key]) || isUnknown(news[key]));
}

/**
 * Whether two connections reach the same host and port: then a change of the rest (a new
 * password, a longer timeout) needs no replacement. An unknown new host is not the same.
 */
export function sameHost(a: unknown, b: unknown): boolean {
  const left = a as Partial<ConnectionArgs> | undefined;
  const right = b as Partial<ConnectionArgs> | undefined;
  return (
    !isUnknown(right?.host) &&
    left?.host === right?.host &&
    (left?.port ?? null) === (right?.port ?? null)
  );
}

/** The check failure for a `timeout` input that is not a positive number of seconds. */
export function timeoutFailure(value: unknown): CheckFailure | undefined {
  if (value === undefined || isUnknown(value)) return undefined;
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return undefined;
  return {
    property: "timeout",
    reason: `must be a positive number of seconds, got ${JSON.stringify(value)}`,
  };
}

/**
 * `props` with the SDK's `secretOutputs` flag only when it is set. The SDK passes it only
 * when true, so a resource whose outputs are not secret stores no flag at all (issue 19: state
 * per resource); releases up to 0.1.x passed `false`, which means the same and must not show
 * as a change on upgrade.
 */
export function withSecretFlagOnlyWhenSet(props: Record<string, unknown>): Record<string, unknown> {
  if (props.secretOutputs === undefined || props.secretOutputs === true) return props;
  if (isUnknown(props.secretOutputs)) return props;
  const rest = { ...props };
  delete rest.secretOutputs;
  return rest;
}
