/**
 * The files a RemoteArchive places, read from its `source`: a local folder (a path, or a
 * FileArchive of a folder), an archive file (a path or FileArchive naming a .zip, .jar, .tar,
 * .tgz or .tar.gz: archive-file.ts) or an AssetArchive (names to FileAssets, StringAssets and
 * nested archives). The engine hands archives to the provider in their wire form: `{path}`,
 * `{assets: {name: asset or archive}}` or `{uri}`, with the engine's `hash` beside them.
 *
 * Every file is hashed here (SHA-256, streamed), so the manifest says exactly what the host
 * must end up with, whatever the source.
 */
import { createHash } from "node:crypto";
import { createReadStream, type Dirent, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ARCHIVE_FILE, extractArchive, memberNames } from "./archive-file";
import { type BundleEntry, bundlePathProblem } from "./winrm/bundle";

export class SourceError extends Error {}

/** An archive file met in the source, whose members go below `prefix`. */
interface ArchiveRef {
  prefix: string;
  file: string;
  where: string;
}

export interface SourceFile {
  path: string;
  /** A local file to read, or the bytes themselves. */
  file?: string;
  bytes?: Buffer;
}

const byPath = (a: SourceFile, b: SourceFile) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** An archive member's path in the folder; its name is checked before anything is written. */
function memberFile(archive: ArchiveRef, member: string): string {
  // tar -C folder . names its members ./name.
  const name = member.replace(/^(\.\/)+/, "");
  const problem = bundlePathProblem(name);
  if (problem !== undefined) {
    throw new SourceError(
      `${archive.where}: ${archive.file} holds ${JSON.stringify(name)}, which ${problem}`,
    );
  }
  return archive.prefix + name;
}

async function readable<T>(archive: ArchiveRef, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(
      `${archive.where}: cannot read ${archive.file}: ${(error as Error).message}`,
    );
  }
}

/**
 * The names of `source`'s files, checked, reading no content but an archive's listing: what
 * `preview` needs.
 */
export async function sourceNames(source: unknown): Promise<string[]> {
  const files: SourceFile[] = [];
  const archives: ArchiveRef[] = [];
  collect(source, "", files, archives, "source");
  for (const archive of archives) {
    const names = await readable(archive, () => memberNames(archive.file));
    for (const name of names) files.push({ path: memberFile(archive, name) });
  }
  files.sort(byPath);
  checkNames(files);
  return files.map((file) => file.path);
}

/** The files of `source`, hashed, ready to bundle; `close` removes what was unpacked. */
export async function openSource(
  source: unknown,
): Promise<{ entries: BundleEntry[]; close: () => void }> {
  const files: SourceFile[] = [];
  const archives: ArchiveRef[] = [];
  collect(source, "", files, archives, "source");
  let scratch: string | undefined;
  const close = () => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    scratch = undefined;
  };
  try {
    for (const [index, archive] of archives.entries()) {
      scratch ??= mkdtempSync(join(tmpdir(), "pulumi-winrm-archive-"));
      const into = join(scratch, String(index));
      const written = await readable(archive, () =>
        extractArchive(archive.file, into, (name) => void memberFile(archive, name)),
      );
      for (const member of written) {
        files.push({ path: memberFile(archive, member.name), file: member.file });
      }
    }
    files.sort(byPath);
    checkNames(files);
    return { entries: await hashedEntries(files), close };
  } catch (error) {
    close();
    throw error;
  }
}

function collect(
  source: unknown,
  prefix: string,
  into: SourceFile[],
  archives: ArchiveRef[],
  where: string,
): void {
  if (typeof source === "string") return collectPath(source, prefix, into, archives, where);

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
      else if (inner?.assets !== undefined)
        collect(inner, `${path}/`, into, archives, `${where}/${name}`);
      else if (typeof inner?.path === "string") {
        const stat = statOf(inner.path, `${where}/${name}`);
        const archive = ARCHIVE_FILE.test(inner.path) && isArchiveValue(inner);
        if (stat.isDirectory() || (stat.isFile() && archive)) {
          collectPath(inner.path, `${path}/`, into, archives, `${where}/${name}`);
        } else into.push({ path, file: inner.path });
      } else {
        throw new SourceError(
          `${where}/${name}: only FileAsset, StringAsset, FileArchive and AssetArchive are supported`,
        );
      }
    }
    return;
  }
  if (typeof value.path === "string") {
    return collectPath(value.path, prefix, into, archives, where);
  }
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

function collectPath(
  root: string,
  prefix: string,
  into: SourceFile[],
  archives: ArchiveRef[],
  where: string,
): void {
  const stat = statOf(root, where);
  if (stat.isFile()) {
    if (ARCHIVE_FILE.test(root)) {
      archives.push({ prefix, file: root, where });
      return;
    }
    throw new SourceError(
      `${where}: ${root} is a file but not a .zip, .jar, .tar, .tgz or .tar.gz archive; give a folder or an archive (RemoteFile places one file)`,
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

/** Pulumi's wire form marks assets and archives by this key and signature (the Node SDK's rpc). */
const SIGNATURE_KEY = "4dabf18193072939515e22adb298388d";
const ARCHIVE_SIGNATURE = "0def7320c3a5731c473e5ecbe6d01bc7";

/**
 * Whether an AssetArchive member is an archive (a FileArchive: its wire form carries the
 * archive signature), as opposed to a FileAsset whose file happens to be a zip.
 */
function isArchiveValue(value: object): boolean {
  return (value as Record<string, unknown>)[SIGNATURE_KEY] === ARCHIVE_SIGNATURE;
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
    const { size: statSize } = await stat(local);
    if (statSize <= WHOLE_READ_MAX_BYTES) {
      // One byte more than stat said shows a file that grew meanwhile: it is then streamed,
      // never read whole however large it has become.
      const bytes = await readUpTo(local, statSize + 1);
      if (bytes.length <= statSize) {
        const sha256 = createHash("sha256").update(bytes).digest("hex");
        const size = bytes.length;
        entries.push({ path: file.path, size, sha256, open: () => readWhole(local, size) });
        continue;
      }
    }
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(local, { highWaterMark: READ_CHUNK_BYTES })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    entries.push({
      path: file.path,
      size,
      sha256: hash.digest("hex"),
      open: () => createReadStream(local, { highWaterMark: READ_CHUNK_BYTES }),
    });
  }
  return entries;
}

/** How much of a large file is read at once. */
const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Files up to this size are read whole, into a buffer of their own size: a read stream
 * allocates a buffer of its highWaterMark for every read, end of file included, so a 10 KB
 * file through a 1 MiB stream cost 2 MiB of garbage per pass (1,000 such files: 1.6 s of
 * garbage collection in the client, more than the transfer).
 */
const WHOLE_READ_MAX_BYTES = READ_CHUNK_BYTES;

/**
 * A file's content, read when the bundle reaches it: at most one byte more than the `size` it
 * was hashed at, which is enough for the bundle to see that it changed (bundle.ts).
 */
async function* readWhole(local: string, size: number): AsyncGenerator<Uint8Array> {
  yield await readUpTo(local, size + 1);
}

/** The first `limit` bytes of a file, or all of it when it is shorter. */
async function readUpTo(local: string, limit: number): Promise<Buffer> {
  const handle = await open(local, "r");
  try {
    const buffer = Buffer.allocUnsafe(limit);
    let filled = 0;
    while (filled < limit) {
      const { bytesRead } = await handle.read(buffer, filled, limit - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
