/**
 * The RemoteFile lifecycle: a file at `path` on the host whose content comes from exactly one
 * of `content`, `source` (a local path) or `asset`. The file is written only when the remote
 * SHA-256 differs from the local one (see HASH_FIRST_ABOVE_BYTES for how that is found out);
 * refresh re-hashes the remote file, so an edited or deleted file shows as drift and the next
 * `up` restores it.
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import {
  type CheckFailure,
  checkConnection,
  type ConnectionArgs,
  isUnknown,
  withClient,
} from "./connection";
import {
  changedKeys,
  pickInputs,
  sameHost,
  timeoutFailure,
  withSecretFlagOnlyWhenSet,
} from "./resource-inputs";
import { type ResourceLog, resourceLog } from "./engine-log";
import { withSecretOutputs } from "./secret-outputs";
import type { WinRMClient } from "./winrm/client";
import type { ByteSource } from "./winrm/winrs/command";
import { newResourceId } from "./resource-id";

export interface RemoteFileInputs {
  connection: ConnectionArgs;
  path: string;
  content?: string;
  source?: string;
  /**
   * A Pulumi asset as the engine hands it over: a file path or literal text, and the SHA-256
   * the engine computed (alone in Diff, where the engine elides the contents).
   */
  asset?: { path?: string; text?: string; hash?: string };
  deleteOnDestroy?: boolean;
  /**
   * Seconds each remote step may take: hashing, removing, creating the folder, and the upload
   * when given. Default: FILE_OPERATION_TIMEOUT_SECONDS for the steps, no limit for the upload
   * (whose progress the Pulumi output shows).
   */
  timeout?: number;
  /**
   * Set by the SDK: whether the content is secret. Then its hash and size are too: a SHA-256
   * confirms a guessed password file, and a size narrows the guess.
   */
  secretOutputs?: boolean;
}

/**
 * Content above this size is sent only after a remote hash says it differs; below it, sending
 * costs less than the hashing command (on Windows a powershell.exe start of a few hundred
 * milliseconds, against 8 MiB at the 20-40 MB/s an upload reaches), and the upload itself
 * leaves an identical file untouched.
 */
const HASH_FIRST_ABOVE_BYTES = 8 * 1024 * 1024;

/** A hash of a FIFO or of a file on a hung share never ends; refresh must not either. */
const FILE_OPERATION_TIMEOUT_SECONDS = 300;

export interface RemoteFileOutputs extends RemoteFileInputs {
  /** SHA-256 of the content that should be there. */
  sha256: string;
  size: number;
  /** SHA-256 of the file on the host when last looked at, or "absent". */
  remoteSha256: string;
  /** Whether the last create or update had to write the file (false: it was already there). */
  uploaded: boolean;
}

const INPUT_KEYS = [
  "connection",
  "path",
  "content",
  "source",
  "asset",
  "deleteOnDestroy",
  "timeout",
  "secretOutputs",
] as const;
/**
 * The inputs the outputs do not repeat: content can be large (a 1 MB `content` stored twice
 * made a 2 MB resource, issue 19), and the engine keeps it with the inputs anyway. `sha256`
 * stands for it, which is all that `diff` compares.
 */
const CONTENT_KEYS = ["content", "asset"] as const;
/** The inputs `diff` compares as they are; `path` replaces, and the content goes by hash. */
const COMPARED_KEYS = INPUT_KEYS.filter(
  (key) => key !== "path" && !(CONTENT_KEYS as readonly string[]).includes(key),
);
/** The outputs that are secret when `secretOutputs` is set. */
const SECRET_OUTPUT_KEYS = ["sha256", "size", "remoteSha256"] as const;

/** `outputs` with the content's hash and size marked secret when the inputs ask for it. */
function sealed<T extends Record<string, unknown>>(outputs: T, inputs: RemoteFileInputs): T {
  return withSecretOutputs(outputs, SECRET_OUTPUT_KEYS, inputs.secretOutputs);
}

/** The file operations of `client` with the resource's time limit. */
function filesOf(client: WinRMClient, inputs: RemoteFileInputs) {
  return client.files({ timeoutMs: (inputs.timeout ?? FILE_OPERATION_TIMEOUT_SECONDS) * 1000 });
}
/** Bytes between progress reports in the Pulumi output. */
const PROGRESS_STEP = 16 * 1024 * 1024;

function inputsOf(props: Record<string, unknown>): RemoteFileInputs {
  return pickInputs<RemoteFileInputs>(props, INPUT_KEYS);
}

/** The outputs of a placed file: the inputs without the content, and what `place` found. */
function outputsOf(
  inputs: RemoteFileInputs,
  placed: Omit<RemoteFileOutputs, keyof RemoteFileInputs>,
): RemoteFileOutputs {
  const kept: Record<string, unknown> = { ...inputs };
  for (const key of CONTENT_KEYS) delete kept[key];
  return sealed({ ...(kept as unknown as RemoteFileInputs), ...placed }, inputs);
}

export function check(_olds: Record<string, unknown>, news: Record<string, unknown>) {
  const failures: CheckFailure[] = [...checkConnection(news.connection)];
  if (!isUnknown(news.path) && (typeof news.path !== "string" || news.path.trim() === "")) {
    failures.push({ property: "path", reason: "is required: the destination path on the host" });
  }
  const given = (["content", "source", "asset"] as const).filter((key) => news[key] !== undefined);
  if (given.length !== 1) {
    failures.push({
      property: given[1] ?? "content",
      reason:
        given.length === 0
          ? "give exactly one of content, source or asset"
          : `give exactly one of content, source or asset, not ${given.join(" and ")}`,
    });
  }
  if (news.content !== undefined && !isUnknown(news.content) && typeof news.content !== "string") {
    failures.push({ property: "content", reason: "must be a string" });
  }
  if (news.source !== undefined && !isUnknown(news.source)) {
    if (typeof news.source !== "string")
      failures.push({ property: "source", reason: "must be a local file path" });
    else {
      try {
        if (!statSync(news.source).isFile())
          failures.push({ property: "source", reason: `${news.source} is not a file` });
      } catch {
        failures.push({
          property: "source",
          reason: `${news.source} does not exist or cannot be read`,
        });
      }
    }
  }
  if (
    news.deleteOnDestroy !== undefined &&
    !isUnknown(news.deleteOnDestroy) &&
    typeof news.deleteOnDestroy !== "boolean"
  ) {
    failures.push({ property: "deleteOnDestroy", reason: "must be true or false" });
  }
  const timeout = timeoutFailure(news.timeout);
  if (timeout) failures.push(timeout);
  return { inputs: withSecretFlagOnlyWhenSet(news), failures };
}

/** A fresh stream of the content each call, so hashing and uploading each read it once. */
function contentSource(inputs: RemoteFileInputs): () => ByteSource {
  if (inputs.content !== undefined) {
    const bytes = Buffer.from(inputs.content, "utf8");
    return () => bytes;
  }
  const path = inputs.source ?? inputs.asset?.path;
  if (path !== undefined) return () => createReadStream(path, { highWaterMark: 1024 * 1024 });
  if (typeof inputs.asset?.text !== "string") {
    // Never an empty file in place of content that was not handed over.
    throw new Error(
      "asset: the engine handed over the asset without its path or text; only FileAsset and " +
        "StringAsset are supported",
    );
  }
  const text = Buffer.from(inputs.asset.text, "utf8");
  return () => text;
}

/**
 * The SHA-256 of the content the inputs ask for. An asset's comes from the engine: it hands
 * assets to Diff with their contents elided (no path, no text), only the hash it computed,
 * which is the SHA-256 of the bytes, as ours is.
 */
async function wantedSha256(inputs: RemoteFileInputs): Promise<string> {
  const engineHash = inputs.asset?.hash;
  if (typeof engineHash === "string" && /^[0-9a-f]{64}$/.test(engineHash)) return engineHash;
  return (await localDigest(contentSource(inputs)())).sha256;
}

async function localDigest(source: ByteSource): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  if (source instanceof Uint8Array) {
    hash.update(source);
    size = source.length;
  } else {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
    }
  }
  return { sha256: hash.digest("hex"), size };
}

export async function diff(
  _id: string,
  recordedOlds: Record<string, unknown>,
  checkedNews: Record<string, unknown>,
) {
  const news = withSecretFlagOnlyWhenSet(checkedNews);
  // Release 0.1.0 had no secretOutputs input for files (the engine derived the secrecy): a
  // resource they created is not changed by its arrival.
  const olds = withSecretFlagOnlyWhenSet({ secretOutputs: news.secretOutputs, ...recordedOlds });
  const replaces: string[] = [];
  if (olds.path !== news.path || isUnknown(news.path)) replaces.push("path");
  if (!sameHost(olds.connection, news.connection)) replaces.push("connection");
  let changed = replaces.length > 0 || changedKeys(olds, news, COMPARED_KEYS).length > 0;
  // The content is compared by its SHA-256, which the outputs keep instead of the content
  // itself; so is a source file edited locally under the same path. A refresh may also have
  // found the remote file changed or gone.
  if (!changed) {
    changed =
      isUnknown(news.content) ||
      isUnknown(news.asset) ||
      (await wantedSha256(inputsOf(news))) !== olds.sha256;
  }
  if (olds.remoteSha256 !== undefined && olds.remoteSha256 !== olds.sha256) changed = true;
  return {
    changes: changed,
    replaces,
    // Delete first: old and new paths may name the same file (Windows paths are
    // case-insensitive: C:\a.txt and C:\A.txt), and a delete after create would remove the new one.
    deleteBeforeReplace: true,
  };
}

async function place(
  inputs: RemoteFileInputs,
  log: ResourceLog,
): Promise<Omit<RemoteFileOutputs, keyof RemoteFileInputs>> {
  const source = contentSource(inputs);
  const local = await localDigest(source());
  return withClient(inputs.connection, async (client) => {
    const files = await filesOf(client, inputs);
    // Small content goes at once: the upload leaves a destination that already holds it as it
    // is, and sending it costs less than a command to hash the remote file first would (on
    // Windows a powershell.exe start). Larger content is sent only when the hashes differ.
    if (local.size > HASH_FIRST_ABOVE_BYTES) {
      const remote = await files.sha256(inputs.path);
      if (remote === local.sha256) {
        return { sha256: local.sha256, size: local.size, remoteSha256: remote, uploaded: false };
      }
    }
    let reported = 0;
    const upload = files.upload(source(), inputs.path, {
      size: local.size,
      // The named hash travels in the remote command line, which other accounts on the host
      // can see (process listings, process-creation audit events); the hash of secret content
      // must not (see secretOutputs), so that goes as a trailer on stdin as before.
      known: inputs.secretOutputs === true ? undefined : local,
      timeoutMs: inputs.timeout === undefined ? undefined : inputs.timeout * 1000,
      onProgress: ({ sent, total }) => {
        if (sent - reported >= PROGRESS_STEP) {
          reported = sent;
          const percent = total ? ` (${Math.floor((sent / total) * 100)}%)` : "";
          log.write(`uploading ${inputs.path}: ${Math.round(sent / 1048576)} MiB${percent}\n`);
        }
      },
    });
    const result = await upload.finally(() => log.flush());
    return {
      sha256: result.sha256,
      size: result.size,
      remoteSha256: result.sha256,
      uploaded: result.replaced,
    };
  });
}

export async function create(news: Record<string, unknown>) {
  const inputs = inputsOf(news);
  const placed = await place(inputs, resourceLog(news));
  return { id: newResourceId(), outs: outputsOf(inputs, placed) };
}

export async function update(
  _id: string,
  _olds: Record<string, unknown>,
  news: Record<string, unknown>,
) {
  const inputs = inputsOf(news);
  return { outs: outputsOf(inputs, await place(inputs, resourceLog(news))) };
}

export async function remove(_id: string, props: Record<string, unknown>) {
  const inputs = inputsOf(props);
  if (inputs.deleteOnDestroy === false) return;
  await withClient(inputs.connection, async (client) =>
    (await filesOf(client, inputs)).remove(inputs.path),
  );
}

/** Refresh: the remote file's hash as it is now ("absent" when deleted). */
export async function read(id: string, props: Record<string, unknown>) {
  const inputs = inputsOf(props);
  return withClient(inputs.connection, async (client) => {
    const remoteSha256 = await (await filesOf(client, inputs)).sha256(inputs.path);
    // No `inputs`: the engine keeps the recorded ones, which hold the content the outputs
    // leave out; inputs taken from the outputs would lose it.
    return { id, props: sealed({ ...props, remoteSha256 }, inputs) };
  });
}
