/**
 * The remote command's output, written to this process's stdout or stderr as it arrives.
 *
 * On a pipe, Node queues what the reader has not taken yet in this process's memory
 * (`write()` returns false and keeps it), so a command printing a gigabyte to a slow reader
 * would be held here whole. `write` hands the client a promise whenever the stream's buffer
 * is full; the client then holds the next output back (CommandOptions.onStdout).
 *
 * A reader that goes away (`| head`) makes the stream fail with EPIPE. That must neither crash
 * the tool nor leave the command running on the host: the failure stops the command (it is
 * terminated and its shell deleted) with ReaderGoneError, and the tool exits quietly with
 * 141, as a process killed by SIGPIPE would (128 + 13).
 */

/** The reader of the tool's stdout or stderr has gone: nobody will see more output. */
export class ReaderGoneError extends Error {
  constructor(
    readonly stream: "stdout" | "stderr",
    cause: unknown,
  ) {
    super(`the reader of ${stream} has gone`, { cause });
    this.name = "ReaderGoneError";
  }
}

/** What a shell reports for a process that wrote to a pipe nobody reads (128 + SIGPIPE). */
export const READER_GONE_EXIT_CODE = 141;

export interface OutputStream {
  /** For onStdout/onStderr: undefined when the stream took the chunk, else when to go on. */
  readonly write: (chunk: Buffer) => Promise<void> | undefined;
  /** Stops listening to the stream (it stays open for the tool's own messages). */
  readonly dispose: () => void;
}

/**
 * `stream` as the destination of a command's output; its failure aborts `stop` with a
 * ReaderGoneError.
 */
export function outputStream(
  stream: NodeJS.WritableStream,
  name: "stdout" | "stderr",
  stop: AbortController,
): OutputStream {
  let failure: ReaderGoneError | undefined;
  const waiting = new Set<{ resolve(): void; reject(error: Error): void }>();
  const onError = (error: unknown) => {
    failure ??= new ReaderGoneError(name, error);
    stop.abort(failure);
    for (const waiter of waiting) waiter.reject(failure);
    waiting.clear();
  };
  const onDrain = () => {
    for (const waiter of waiting) waiter.resolve();
    waiting.clear();
  };
  stream.on("error", onError);
  stream.on("drain", onDrain);
  return {
    write: (chunk) => {
      if (failure !== undefined) return Promise.reject(failure);
      if (stream.write(chunk)) return undefined;
      return new Promise<void>((resolve, reject) => waiting.add({ resolve, reject }));
    },
    dispose: () => {
      stream.off("drain", onDrain);
      // A late EPIPE (the last chunk still queued when the reader left) must not crash the
      // tool after the command has ended: keep swallowing errors, but stop nothing.
      stream.off("error", onError);
      stream.on("error", () => undefined);
    },
  };
}
