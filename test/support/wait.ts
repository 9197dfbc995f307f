/**
 * Polls `condition` every 25 ms until it holds or `timeoutMs` has passed; resolves with whether
 * it held. For what happens after the call under test has returned (a log entry written once a
 * reply has gone, a process that exits): tests wait for the event, never for a fixed time.
 */
export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return condition();
}
