/** Text helpers shared by the PowerShell scripts. */

/**
 * Drops indentation, blank lines and whole-line comments. Applied to the fixed script text
 * only, before any path literal is added, so it can never alter a path.
 */
export function compact(script: string): string {
  return script
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .join("\n");
}
