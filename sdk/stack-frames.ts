/**
 * Declaring a resource without stack frames for the Pulumi SDK's bookkeeping (issue 19,
 * program-side cost).
 *
 * For every property of a resource, the Pulumi SDK makes four promises and records a formatted
 * stack trace on each (runtime/debuggable.js, for its report of leaked promises): `new
 * Error().stack`, made and formatted at once. A RemoteCommand has a dozen properties: that was
 * a sixth of the program's CPU per resource (bench:program, 2 cores: 4.0 ms before, 3.2-3.4 ms
 * after). With V8 capturing no frames while the resource is declared, those traces are empty
 * and cost next to nothing.
 *
 * What stays as it was: the resource's source position, which Resource.callsites() reads from
 * a stack trace of its own after lifting the limit itself; and an error thrown while the
 * resource is declared, whose stack is taken again, from the declaring call, once the limit
 * is back. DynamicResource (sdk/dynamic-resource.ts) does this around its super call.
 */
export interface StackFrames {
  /** Puts Error.stackTraceLimit back as it was. */
  restore(): void;
  /** `error` with its stack taken again here, with the limit restored. */
  restack(error: unknown): unknown;
}

export function stackFramesOff(): StackFrames {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const restore = () => {
    Error.stackTraceLimit = limit;
  };
  return {
    restore,
    restack(error) {
      restore();
      if (error instanceof Error) Error.captureStackTrace(error);
      return error;
    },
  };
}
