/**
 * Parsers for the helper scripts' stdout. Both families print the same formats, so the parsing
 * is shared. A remote shell may add a BOM, "\r\n" line ends or trailing blank lines; anything
 * beyond that is a protocol error rather than a guess.
 */
import { ProtocolError } from "../../errors";
import type { FileStat } from "./types";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const FILE_TYPES: ReadonlySet<string> = new Set(["file", "directory", "other"]);

/** The single meaningful line of a helper's stdout. */
function onlyLine(stdout: string, structure: string): string {
  const lines = stdout
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (lines.length !== 1 || lines[0] === undefined) {
    throw new ProtocolError(structure, `expected one line of output, got ${lines.length}`);
  }
  return lines[0];
}

/** sha256 output: 64 lowercase hex digits or "absent". */
// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- names the sentinel
export function parseSha256Output(stdout: string): string | "absent" {
  const line = onlyLine(stdout, "sha256 output");
  if (line === "absent") return line;
  const hex = line.toLowerCase();
  if (!SHA256_HEX.test(hex)) {
    throw new ProtocolError("sha256 output", "not 64 hex digits nor the word absent");
  }
  return hex;
}

/** stat output: one line of JSON FileStat. */
export function parseStatOutput(stdout: string): FileStat {
  const line = onlyLine(stdout, "stat output");
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (cause) {
    throw new ProtocolError("stat output", "not JSON", { cause });
  }
  return checkFileStat(value);
}

function checkFileStat(value: unknown): FileStat {
  if (typeof value !== "object" || value === null) {
    throw new ProtocolError("stat output", "not a JSON object");
  }
  const record = value as Record<string, unknown>;
  if (typeof record.exists !== "boolean") {
    throw new ProtocolError("stat output", "exists is not a boolean");
  }
  const stat: FileStat = { exists: record.exists };
  if (!record.exists) return stat;
  if (typeof record.type !== "string" || !FILE_TYPES.has(record.type)) {
    throw new ProtocolError("stat output", "type is not file, directory or other");
  }
  stat.type = record.type as NonNullable<FileStat["type"]>;
  if (record.size !== undefined) stat.size = checkSize(record.size);
  if (record.modified !== undefined) stat.modified = checkTime(record.modified);
  return stat;
}

function checkSize(size: unknown): number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new ProtocolError("stat output", "size is not a non-negative integer");
  }
  return size;
}

/** Normalises to Date#toISOString form so both families compare equal. */
function checkTime(modified: unknown): string {
  const time = typeof modified === "string" ? Date.parse(modified) : Number.NaN;
  if (Number.isNaN(time)) throw new ProtocolError("stat output", "modified is not ISO 8601");
  return new Date(time).toISOString();
}

/** The boot time bootTime printed. */
export function parseBootTimeOutput(stdout: string): Date {
  const line = stdout.trim();
  const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(line) ? new Date(line) : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) {
    throw new Error(
      `the host's boot time is not a timestamp: ${JSON.stringify(line.slice(0, 80))}`,
    );
  }
  return time;
}

/**
 * A hashTree listing: "absent", or `HEX NAME` lines as sha256sum (`HEX  NAME`), shasum and
 * openssl -r and the PowerShell family (`HEX *NAME`) print them.
 * A leading "./" is dropped; GNU sha256sum's escaped form (a line starting with "\", then
 * "\\" and "\n" in the name) is undone.
 */
export function parseTreeLines(stdout: string): Map<string, string> | "absent" {
  const text = stdout.replace(/^\uFEFF/, "");
  if (text.trim() === "absent") return "absent";
  const hashes = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "") continue;
    const escaped = line.startsWith("\\");
    const match = /^([0-9a-f]{64}) [ *](.*)$/.exec(escaped ? line.slice(1) : line);
    if (match === null)
      throw new Error(
        `unexpected line in a folder's hashes: ${JSON.stringify(line.slice(0, 120))}`,
      );
    let name = match[2]!;
    if (escaped)
      name = name.replace(/\\(\\|n)/g, (_all, what: string) => (what === "n" ? "\n" : "\\"));
    if (name.startsWith("./")) name = name.slice(2);
    hashes.set(name, match[1]!);
  }
  return hashes;
}
