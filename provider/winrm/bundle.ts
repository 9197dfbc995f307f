/**
 * The bundle: many files in one stream, for RemoteTree.placeBundle. It is a POSIX ustar
 * archive (POSIX.1-1988 "ustar Interchange Format", pax(1)) restricted so that a short
 * PowerShell loop can read it as easily as `tar -x` does:
 *
 * - entries are regular files named "0", "1", ... "n" (ASCII digits, no directories, no long
 *   names, so no pax or GNU extensions are ever needed);
 * - entry "0" is the manifest, UTF-8 lines `SHA256 SIZE RELATIVE/PATH`, one per file, in the
 *   order of entries "1".."n";
 * - each header is 512 bytes, the content follows padded with zeros to a multiple of 512,
 *   and two zero blocks end the archive.
 *
 * Real names travel in the manifest only, so a name may hold any character but "/" as a
 * separator, NUL and line breaks, and the host decides how to store it.
 */
import type { ByteSource } from "./winrs/command";

export interface BundleEntry {
  /** Relative path with "/" separators. */
  path: string;
  size: number;
  /** Lowercase hex SHA-256 of the content. */
  sha256: string;
  /** The content, read once. */
  open(): ByteSource;
}

const BLOCK = 512;
/** The largest size an 11-digit octal field holds: 8 GiB - 1. */
export const BUNDLE_MAX_FILE_SIZE = 0o77777777777;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** A ustar header for a regular file `name` of `size` bytes. */
export function ustarHeader(name: string, size: number): Buffer {
  if (!/^\d{1,99}$/.test(name)) throw new Error(`bundle entry names are digits, got ${name}`);
  if (!Number.isSafeInteger(size) || size < 0 || size > BUNDLE_MAX_FILE_SIZE) {
    throw new RangeError(`a bundle entry holds at most ${BUNDLE_MAX_FILE_SIZE} bytes, not ${size}`);
  }
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, "ascii");
  header.write(octal(0o644, 8), 100, "ascii");
  header.write(octal(0, 8), 108, "ascii");
  header.write(octal(0, 8), 116, "ascii");
  header.write(octal(size, 12), 124, "ascii");
  header.write(octal(0, 12), 136, "ascii");
  header.write("        ", 148, "ascii"); // the checksum counts its own field as spaces
  header.write("0", 156, "ascii");
  header.write("ustar\u000000", 257, "ascii");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return header;
}

/** Checks a relative path a bundle can carry; returns the reason it cannot, or undefined. */
export function bundlePathProblem(path: string): string | undefined {
  if (path === "") return "is empty";
  if (/[\0\r\n]/.test(path)) return "holds a NUL or a line break";
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) return "is absolute";
  if (path.includes("\\")) return 'holds a backslash (use "/" between folders)';
  const parts = path.split("/");
  if (parts.some((part) => part === "" || part === "." || part === "..")) {
    return 'has an empty, "." or ".." part (it must stay inside the folder)';
  }
  return undefined;
}

/** Device names Windows reserves in every folder, with or without an extension. */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/**
 * Why a Windows host could not store `path` under that name ("Naming Files, Paths, and
 * Namespaces"): a character Windows forbids (`<>:"|?*` and control characters; a colon would
 * name an NTFS alternate data stream), a part ending in a dot or a space (Windows drops it, so
 * the file would never match its name), or a reserved device name. Undefined when it can.
 */
export function windowsNameProblem(path: string): string | undefined {
  for (const part of path.split("/")) {
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    if (/[<>:"|?*\x00-\x1f]/.test(part))
      return `has a character Windows forbids in names (${JSON.stringify(part)})`;
    if (/[. ]$/.test(part))
      return `has a part ending in a dot or a space, which Windows drops (${JSON.stringify(part)})`;
    if (WINDOWS_RESERVED.test(part))
      return `uses a name Windows reserves for a device (${JSON.stringify(part)})`;
  }
  return undefined;
}

/** The manifest: `SHA256 SIZE PATH` lines in entry order. */
export function bundleManifest(entries: readonly BundleEntry[]): Buffer {
  return Buffer.from(
    entries.map((entry) => `${entry.sha256} ${entry.size} ${entry.path}\n`).join(""),
    "utf8",
  );
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

async function* chunksOf(source: ByteSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const chunk of source) yield chunk;
}

/**
 * The bundle of `entries` as a stream. A file whose length differs from its entry's size
 * (changed after it was hashed) ends the stream with an error rather than a wrong archive.
 * `onFile` is told after each file is out.
 */
export async function* writeBundle(
  entries: readonly BundleEntry[],
  onFile?: (entry: BundleEntry, index: number) => void,
): AsyncGenerator<Uint8Array> {
  for (const entry of entries) {
    const problem = bundlePathProblem(entry.path);
    if (problem !== undefined)
      throw new Error(`bundle path ${JSON.stringify(entry.path)} ${problem}`);
  }
  const manifest = bundleManifest(entries);
  yield Buffer.concat([ustarHeader("0", manifest.length), manifest, padding(manifest.length)]);
  for (const [index, entry] of entries.entries()) {
    yield ustarHeader(String(index + 1), entry.size);
    let sent = 0;
    for await (const chunk of chunksOf(entry.open())) {
      sent += chunk.length;
      if (sent > entry.size) break;
      yield chunk;
    }
    if (sent !== entry.size) {
      throw new Error(
        `${entry.path} changed while it was being sent: it was ${entry.size} bytes when hashed`,
      );
    }
    yield padding(entry.size);
    onFile?.(entry, index);
  }
  yield Buffer.alloc(2 * BLOCK);
}
