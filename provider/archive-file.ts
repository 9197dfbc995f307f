/**
 * Archive files as a RemoteArchive's source: the formats Pulumi's FileArchive names (.zip and
 * .jar through yauzl; .tar, .tgz and .tar.gz through tar-stream and zlib). Only regular files
 * are taken; folders are implied by the files' names. A link, a device or a FIFO in a tar is
 * refused rather than placed as something else.
 *
 * Reading one member of a tar means reading the archive up to it, so an archive is unpacked
 * once into a temporary folder (extractArchive), and its files are hashed and sent from there.
 */
import { createReadStream, createWriteStream, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import * as yauzl from "yauzl";

/** The FileArchive formats read here, by name. */
export const ARCHIVE_FILE = /\.(zip|jar|tar|tgz|tar\.gz)$/i;

/** Called with each file of an archive; it must consume `content` before it resolves. */
type Visit = (name: string, content: AsyncIterable<Uint8Array>) => Promise<void>;

function zipMembers(file: string, visit: Visit): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (error, zip) => {
      if (error || !zip) return reject(error ?? new Error(`cannot open ${file}`));
      const fail = (cause: unknown) => {
        zip.close();
        reject(cause instanceof Error ? cause : new Error(String(cause)));
      };
      zip.on("error", reject);
      zip.on("end", () => resolve());
      zip.on("entry", (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith("/")) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return fail(streamError ?? new Error("no stream"));
          visit(entry.fileName, stream).then(() => zip.readEntry(), fail);
        });
      });
      zip.readEntry();
    });
  });
}

async function tarMembers(file: string, visit: Visit): Promise<void> {
  const extract = tar.extract();
  const input = createReadStream(file);
  const source = /\.(tgz|gz)$/i.test(file) ? input.pipe(createGunzip()) : input;
  source.on("error", (error: Error) => extract.destroy(error));
  source.pipe(extract);
  try {
    await eachTarEntry(extract, visit);
  } finally {
    input.destroy();
  }
}

async function eachTarEntry(extract: tar.Extract, visit: Visit): Promise<void> {
  for await (const entry of extract) {
    const { name, type } = entry.header;
    if (type === "directory") {
      for await (const _ of entry) void _;
      continue;
    }
    if (type !== "file" && type !== "contiguous-file") {
      throw new Error(
        `${name} is a ${type ?? "special entry"}, not a file; only files can be placed`,
      );
    }
    // tar-stream's entries are streamx readables of Buffers.
    await visit(name, entry as unknown as AsyncIterable<Uint8Array>);
  }
}

/** Calls `visit` with each file of the archive, in the archive's order. */
export function eachMember(file: string, visit: Visit): Promise<void> {
  return /\.(zip|jar)$/i.test(file) ? zipMembers(file, visit) : tarMembers(file, visit);
}

/** The names of the archive's files, without reading their contents into memory. */
export async function memberNames(file: string): Promise<string[]> {
  const names: string[] = [];
  await eachMember(file, async (name, content) => {
    names.push(name);
    for await (const _ of content) void _;
  });
  return names;
}

/**
 * Unpacks the archive's files below `into` (names are checked by the caller first: none may
 * leave the folder). Resolves with each file's name and where it was written.
 */
export async function extractArchive(
  file: string,
  into: string,
  check: (name: string) => void,
): Promise<Array<{ name: string; file: string }>> {
  const written: Array<{ name: string; file: string }> = [];
  let index = 0;
  await eachMember(file, async (name, content) => {
    check(name);
    // Numbered files, not the members' names: a name is only ever data here.
    const target = join(into, String(index++));
    mkdirSync(dirname(target), { recursive: true });
    await pipeline(content, createWriteStream(target));
    written.push({ name, file: target });
  });
  return written;
}
