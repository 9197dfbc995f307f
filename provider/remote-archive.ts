/**
 * The RemoteArchive lifecycle: a folder on the host holding the files of a local folder or
 * archive. The state is a manifest (relative path to SHA-256); an `up` sends only the files
 * the host lacks or holds differently (one bundle, one command), and with `prune` removes the
 * files the source no longer has. A refresh re-hashes the remote folder in one script and
 * records what differs as `drift` (changed, missing and, with prune, extra files); the next
 * `up` repairs exactly those.
 *
 * Inputs are echoed into outputs, because `diff` receives the old outputs, not the old inputs.
 */
import { InvalidArgumentError } from "./errors";
import { openSource, SourceError, sourceNames } from "./archive-source";
import {
  type CheckFailure,
  checkConnection,
  type ConnectionArgs,
  isUnknown,
  withClient,
} from "./connection";
import { type ResourceLog, resourceLog, urnOf } from "./engine-log";
import {
  changedKeys,
  pickInputs,
  sameHost,
  timeoutFailure,
  withSecretFlagOnlyWhenSet,
} from "./resource-inputs";
import { withSecretOutputs } from "./secret-outputs";
import { type BundleEntry, windowsNameProblem } from "./winrm/bundle";
import type { WinRMClient } from "./winrm/client";
import type { TreeHashes } from "./winrm/scripts";
import { newResourceId } from "./resource-id";

export interface RemoteArchiveInputs {
  connection: ConnectionArgs;
  /** A local folder path, or an archive in the engine's wire form. */
  source: unknown;
  remotePath: string;
  /** Remove files on the host that the source does not have. Default false. */
  prune?: boolean;
  /** Remove the files this resource placed on destroy. Default true. */
  deleteOnDestroy?: boolean;
  /** Seconds the transfer and each remote step may take; default 300 for the steps, none for the transfer. */
  timeout?: number;
  secretOutputs?: boolean;
}

/** What a refresh found different from the manifest. */
export interface Drift {
  changed: string[];
  missing: string[];
  /** Files the source does not have (counted only with prune). */
  extra: string[];
}

export interface RemoteArchiveOutputs extends RemoteArchiveInputs {
  /** Relative path to SHA-256 of every file placed. */
  manifest: Record<string, string>;
  files: number;
  bytes: number;
  /** Files sent by the last create or update. */
  sent: number;
  /** Files removed by the last create or update (prune). */
  removed: number;
  drift: Drift;
}

const INPUT_KEYS = [
  "connection",
  "source",
  "remotePath",
  "prune",
  "deleteOnDestroy",
  "timeout",
  "secretOutputs",
] as const;
const SECRET_OUTPUT_KEYS = ["manifest", "drift"] as const;
const STEP_TIMEOUT_SECONDS = 300;
/** Progress lines: at least this many bytes or files apart. */
const PROGRESS_BYTES = 16 * 1024 * 1024;
const PROGRESS_FILES = 200;
const NO_DRIFT: Drift = Object.freeze({ changed: [], missing: [], extra: [] });

function inputsOf(props: Record<string, unknown>): RemoteArchiveInputs {
  return pickInputs<RemoteArchiveInputs>(props, INPUT_KEYS);
}

function sealed<T extends Record<string, unknown>>(outputs: T, inputs: RemoteArchiveInputs): T {
  return withSecretOutputs(outputs, SECRET_OUTPUT_KEYS, inputs.secretOutputs);
}

export async function check(_olds: Record<string, unknown>, news: Record<string, unknown>) {
  const failures: CheckFailure[] = [...checkConnection(news.connection)];
  const known = (name: string) => news[name] !== undefined && !isUnknown(news[name]);
  if (
    !isUnknown(news.remotePath) &&
    (typeof news.remotePath !== "string" || news.remotePath.trim() === "")
  ) {
    failures.push({ property: "remotePath", reason: "is required: the folder on the host" });
  }
  if (news.source === undefined) {
    failures.push({
      property: "source",
      reason: "is required: a local folder path, a FileArchive or an AssetArchive",
    });
  } else if (!isUnknown(news.source)) {
    try {
      const names = await sourceNames(news.source);
      // A host pinned to the PowerShell family is Windows: its naming rules apply now.
      const pinned = (news.connection as Partial<ConnectionArgs> | undefined)?.scripts;
      const bad = pinned === "powershell" ? windowsNames(names) : undefined;
      if (bad !== undefined) failures.push({ property: "source", reason: bad });
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      failures.push({ property: "source", reason: error.message.replace(/^source:? ?/, "") });
    }
  }
  for (const name of ["prune", "deleteOnDestroy"]) {
    if (known(name) && typeof news[name] !== "boolean") {
      failures.push({ property: name, reason: "must be true or false" });
    }
  }
  const timeout = timeoutFailure(news.timeout);
  if (timeout) failures.push(timeout);
  return { inputs: withSecretFlagOnlyWhenSet(news), failures };
}

/** The manifest the source asks for now. */
async function wantedManifest(inputs: RemoteArchiveInputs): Promise<Record<string, string>> {
  const source = await openSource(inputs.source);
  try {
    return manifestOf(source.entries);
  } finally {
    source.close();
  }
}

function manifestOf(entries: readonly BundleEntry[]): Record<string, string> {
  return Object.fromEntries(entries.map((entry) => [entry.path, entry.sha256]));
}

function sameManifest(a: unknown, b: Record<string, string>): boolean {
  if (a === null || typeof a !== "object") return false;
  const old = a as Record<string, string>;
  const keys = Object.keys(b);
  return Object.keys(old).length === keys.length && keys.every((key) => old[key] === b[key]);
}

function hasDrift(drift: unknown): boolean {
  const value = drift as Partial<Drift> | undefined;
  return Boolean(value?.changed?.length || value?.missing?.length || value?.extra?.length);
}

export async function diff(
  _id: string,
  recordedOlds: Record<string, unknown>,
  checkedNews: Record<string, unknown>,
) {
  const olds = withSecretFlagOnlyWhenSet(recordedOlds);
  const news = withSecretFlagOnlyWhenSet(checkedNews);
  const replaces: string[] = [];
  if (olds.remotePath !== news.remotePath || isUnknown(news.remotePath))
    replaces.push("remotePath");
  if (!sameHost(olds.connection, news.connection)) replaces.push("connection");
  // The source is compared by content: the engine hands archives over with their hash only
  // in part, and a folder path stays the same while its files change.
  const others = INPUT_KEYS.filter((key) => key !== "remotePath" && key !== "source");
  let changed = replaces.length > 0 || changedKeys(olds, news, others).length > 0;
  if (!changed && !isUnknown(news.source)) {
    const elided = engineHashOnly(news.source);
    changed =
      elided !== undefined
        ? elided !== engineHashOnly(olds.source, true)
        : !sameManifest(olds.manifest, await wantedManifest(inputsOf(news)));
  }
  if (isUnknown(news.source)) changed = true;
  if (hasDrift(olds.drift)) changed = true;
  return { changes: changed, replaces, deleteBeforeReplace: true };
}

/**
 * The engine hands an archive to Diff with its contents elided: no path, no assets, only the
 * hash it computed over the contents. Then that hash says whether the source changed. Returns
 * the hash of such an archive (or, with `any`, of any archive), undefined otherwise.
 */
function engineHashOnly(source: unknown, any = false): string | undefined {
  if (source === null || typeof source !== "object") return undefined;
  const value = source as { hash?: unknown; path?: unknown; assets?: unknown };
  if (typeof value.hash !== "string") return undefined;
  return any || (value.path === undefined && value.assets === undefined) ? value.hash : undefined;
}

/** The first name a Windows host could not store, said as a check failure's reason. */
function windowsNames(names: readonly string[]): string | undefined {
  for (const name of names) {
    const problem = windowsNameProblem(name);
    if (problem !== undefined) return `the name ${JSON.stringify(name)} ${problem}`;
  }
  return undefined;
}

/** Keys for comparing paths: case-insensitive on a Windows host. */
function keyFor(family: string): (path: string) => string {
  return family === "powershell" ? (path) => path.toLowerCase() : (path) => path;
}

/** What the host holds differently from `manifest`. */
function driftOf(
  manifest: Record<string, string>,
  remote: TreeHashes | "absent",
  prune: boolean,
  key: (path: string) => string,
): Drift {
  const found = new Map<string, string>();
  if (remote !== "absent") for (const [path, hash] of remote) found.set(key(path), hash);
  const drift: Drift = { changed: [], missing: [], extra: [] };
  const wanted = new Set<string>();
  for (const [path, hash] of Object.entries(manifest)) {
    wanted.add(key(path));
    const there = found.get(key(path));
    if (there === undefined) drift.missing.push(path);
    else if (there !== hash) drift.changed.push(path);
  }
  if (prune && remote !== "absent") {
    for (const path of remote.keys()) if (!wanted.has(key(path))) drift.extra.push(path);
  }
  return drift;
}

function stepsOf(client: WinRMClient, inputs: RemoteArchiveInputs) {
  return client.files({ timeoutMs: (inputs.timeout ?? STEP_TIMEOUT_SECONDS) * 1000 });
}

async function place(inputs: RemoteArchiveInputs, log: ResourceLog) {
  const source = await openSource(inputs.source);
  try {
    return await placeEntries(inputs, source.entries, log);
  } finally {
    source.close();
  }
}

async function placeEntries(
  inputs: RemoteArchiveInputs,
  entries: readonly BundleEntry[],
  log: ResourceLog,
) {
  const manifest = manifestOf(entries);
  return withClient(inputs.connection, async (client) => {
    const files = await stepsOf(client, inputs);
    if (files.family === "powershell") {
      const bad = windowsNames(entries.map((entry) => entry.path));
      if (bad !== undefined) throw new InvalidArgumentError("source", bad);
    }
    const key = keyFor(files.family);
    const remote = await files.hashTree(inputs.remotePath);
    const drift = driftOf(manifest, remote, inputs.prune === true, key);
    const sendPaths = new Set([...drift.changed, ...drift.missing]);
    const toSend = entries.filter((entry) => sendPaths.has(entry.path));
    const total = toSend.reduce((sum, entry) => sum + entry.size, 0);
    try {
      if (toSend.length > 0) {
        log.write(
          `sending ${toSend.length} of ${entries.length} files (${mebibytes(total)}) to ${inputs.remotePath}\n`,
        );
        let sentBytes = 0;
        let reportedBytes = 0;
        let reportedFiles = 0;
        await files.placeFiles(inputs.remotePath, toSend, {
          timeoutMs: inputs.timeout === undefined ? undefined : inputs.timeout * 1000,
          onFile: (entry, index) => {
            sentBytes += entry.size;
            const count = index + 1;
            if (
              count < toSend.length &&
              (sentBytes - reportedBytes >= PROGRESS_BYTES ||
                count - reportedFiles >= PROGRESS_FILES)
            ) {
              reportedBytes = sentBytes;
              reportedFiles = count;
              log.write(`sent ${count} of ${toSend.length} files (${mebibytes(sentBytes)})\n`);
            }
          },
        });
      }
      if (drift.extra.length > 0) {
        log.write(`removing ${drift.extra.length} files the source does not have\n`);
        await files.removeFiles(inputs.remotePath, drift.extra);
      }
    } finally {
      await log.flush();
    }
    return {
      manifest,
      files: entries.length,
      bytes: entries.reduce((sum, entry) => sum + entry.size, 0),
      sent: toSend.length,
      removed: drift.extra.length,
      drift: NO_DRIFT,
    };
  });
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

export async function create(news: Record<string, unknown>) {
  const inputs = inputsOf(news);
  const placed = await place(inputs, resourceLog(news));
  return { id: newResourceId(), outs: sealed({ ...inputs, ...urnOf(news), ...placed }, inputs) };
}

export async function update(
  _id: string,
  _olds: Record<string, unknown>,
  news: Record<string, unknown>,
) {
  const inputs = inputsOf(news);
  const placed = await place(inputs, resourceLog(news));
  return { outs: sealed({ ...inputs, ...urnOf(news), ...placed }, inputs) };
}

/** Destroy removes the files this resource placed (its manifest), not the folder itself. */
export async function remove(_id: string, props: Record<string, unknown>) {
  const inputs = inputsOf(props);
  if (inputs.deleteOnDestroy === false) return;
  const manifest = (props.manifest ?? {}) as Record<string, string>;
  await withClient(inputs.connection, async (client) =>
    (await stepsOf(client, inputs)).removeFiles(inputs.remotePath, Object.keys(manifest)),
  );
}

/** Refresh: the remote folder re-hashed in one script, what differs recorded as drift. */
export async function read(id: string, props: Record<string, unknown>) {
  const inputs = inputsOf(props);
  const manifest = (props.manifest ?? {}) as Record<string, string>;
  return withClient(inputs.connection, async (client) => {
    const files = await stepsOf(client, inputs);
    const remote = await files.hashTree(inputs.remotePath);
    const drift = driftOf(manifest, remote, inputs.prune === true, keyFor(files.family));
    return {
      id,
      props: sealed({ ...props, drift }, inputs),
      inputs: inputs as unknown as Record<string, unknown>,
    };
  });
}
