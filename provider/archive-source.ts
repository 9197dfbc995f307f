/**
 * The files a RemoteArchive places, read from its `source`: a local folder (a path, or a
 * FileArchive of a folder) or an AssetArchive (names to FileAssets, StringAssets and nested
 * archives). The engine hands archives to the provider in their wire form: `{path}`,
 * `{assets: {name: asset or archive}}` or `{uri}`, with the engine's `hash` beside them.
 *
 * Every file is hashed here (SHA-256, streamed), so the manifest says exactly what the host
 * must end up with, whatever the source.
 */
import { createHash } from "node:crypto";
import { createReadStream, type Dirent, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type BundleEntry, bundlePathProblem } from "./winrm/bundle";

export class SourceError extends Error {}

/** File formats a FileArchive may name that this provider does not read yet. */
const ARCHIVE_FILE = /\.(zip|jar|tar|tgz|tar\.gz)$/i;

export interface SourceFile {
  path: string;
  /** A local file to read, or the bytes themselves. */
  file?: string;
  bytes?: Buffer;
}

/** The files of `source`, by relative path ("/" separators), not yet hashed. */
export function sourceFiles(source: unknown): SourceFile[] {
  const files: SourceFile[] = [];
  collect(source, "", files, "source");
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  checkNames(files);
  return files;
}

function collect(source: unknown, prefix: string, into: SourceFile[], where: string): void {
  if (typeof source === "string") return collectPath(source, prefix, into, where);
  if (source === null || typeof source !== "object") {
    throw new SourceError(`${where} must be a folder path, a FileArchive or an AssetArchive`);
  }
  const value = source as { path?: unknown; assets?: unknown; uri?: unknown; text?: unknown };
  if (value.assets !== undefined) {
    if (value.assets === null || typeof value.assets !== "object") {
      throw new SourceError(`${where}: an AssetArchive's assets must be an object`);
    }
    for (const [name, item] of Object.entries(value.assets as Record<string, unknown>)) {
      const path = prefix + name;
      const inner = item as { path?: unknown; text?: unknown; assets?: unknown; uri?: unknown };
      if (typeof inner?.text === "string")
        into.push({ path, bytes: Buffer.from(inner.text, "utf8") });
      else if (inner?.assets !== undefined) collect(inner, `${path}/`, into, `${where}/${name}`);
      else if (typeof inner?.path === "string") {
        const stat = statOf(inner.path, `${where}/${name}`);
        if (stat.isDirectory()) collectPath(inner.path, `${path}/`, into, `${where}/${name}`);
        else into.push({ path, file: inner.path });
      } else {
        throw new SourceError(
          `${where}/${name}: only FileAsset, StringAsset, FileArchive and AssetArchive are supported`,
        );
      }
    }
    return;
  }
  if (typeof value.path === "string") return collectPath(value.path, prefix, into, where);
  if (value.uri !== undefined) {
    throw new SourceError(
      `${where}: a RemoteArchive or RemoteAsset (a URI) is not supported; download it first`,
    );
  }
  throw new SourceError(`${where} must be a folder path, a FileArchive or an AssetArchive`);
}

function statOf(path: string, where: string) {
  try {
    return statSync(path);
  } catch {
    throw new SourceError(`${where}: ${path} does not exist or cannot be read`);
  }
}

function collectPath(root: string, prefix: string, into: SourceFile[], where: string): void {
  const stat = statOf(root, where);
  if (stat.isFile()) {
    if (ARCHIVE_FILE.test(root)) {
      throw new SourceError(
        `${where}: ${root} is an archive file, which RemoteArchive does not unpack yet: unpack it into a folder and give the folder`,
      );
    }
    throw new SourceError(
      `${where}: ${root} is a file; give a folder (RemoteFile places one file)`,
    );
  }
  if (!stat.isDirectory()) throw new SourceError(`${where}: ${root} is not a folder`);
  walk(root, prefix, into, where, new Set([`${stat.dev}:${stat.ino}`]));
}

/** Files below `folder`; symbolic links are followed, a loop of them is an error. */
function walk(
  folder: string,
  prefix: string,
  into: SourceFile[],
  where: string,
  seen: Set<string>,
): void {
  let children: Dirent[];
  try {
    children = readdirSync(folder, { withFileTypes: true });
  } catch (error) {
    throw new SourceError(
      `${where}: cannot read the folder ${folder}: ${(error as Error).message}`,
    );
  }
  for (const child of children) {
    const path = join(folder, child.name);
    const stat = child.isSymbolicLink() ? statOf(path, where) : undefined;
    const isDirectory = stat ? stat.isDirectory() : child.isDirectory();
    const isFile = stat ? stat.isFile() : child.isFile();
    if (isDirectory) {
      const id = stat ? `${stat.dev}:${stat.ino}` : undefined;
      if (id !== undefined && seen.has(id)) {
        throw new SourceError(`${where}: ${path} is a link that loops back to a folder above it`);
      }
      const below = new Set(seen);
      if (id !== undefined) below.add(id);
      walk(path, `${prefix}${child.name}/`, into, where, below);
    } else if (isFile) {
      into.push({ path: prefix + child.name, file: path });
    } else {
      throw new SourceError(
        `${where}: ${path} is neither a file nor a folder (a socket, FIFO or device)`,
      );
    }
  }
}

/**
 * Names the host could not store as given: a bad relative path, or two names that differ only
 * in case (Windows folders are case-insensitive: the second would overwrite the first).
 */
function checkNames(files: readonly SourceFile[]): void {
  const lower = new Map<string, string>();
  for (const file of files) {
    const problem = bundlePathProblem(file.path);
    if (problem !== undefined)
      throw new SourceError(`source: the name ${JSON.stringify(file.path)} ${problem}`);
    const key = file.path.toLowerCase();
    const other = lower.get(key);
    if (other !== undefined) {
      throw new SourceError(
        `source: ${JSON.stringify(other)} and ${JSON.stringify(file.path)} differ only in case, and Windows folders are case-insensitive`,
      );
    }
    lower.set(key, file.path);
  }
}

/** The files with their size and SHA-256, ready to bundle. */
export async function hashedEntries(files: readonly SourceFile[]): Promise<BundleEntry[]> {
  const entries: BundleEntry[] = [];
  for (const file of files) {
    if (file.bytes !== undefined) {
      const bytes = file.bytes;
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      entries.push({ path: file.path, size: bytes.length, sha256, open: () => bytes });
      continue;
    }
    const local = file.file!;
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(local, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    entries.push({
      path: file.path,
      size,
      sha256: hash.digest("hex"),
      open: () => createReadStream(local, { highWaterMark: 1024 * 1024 }),
    });
  }
  return entries;
}
