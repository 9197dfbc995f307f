/**
 * Remote file operations, each one remote command built by the script family of the host
 * (PowerShell on Windows, POSIX sh elsewhere): sha256, stat, remove, mkdir -p, and a
 * streaming upload verified by SHA-256 before it replaces the destination (unless that
 * already holds the same bytes).
 */
import { createHash } from "node:crypto";
import { pipeline, Readable } from "node:stream";
import {
  CommandFailedError,
  IntegrityError,
  TimeoutError,
  UnsupportedError,
  type WinRMError,
} from "../errors";
import { type BundleEntry, writeBundle } from "./bundle";
import { type ByteSource, type CommandResult, rechunk, type RunOptions } from "./winrs/command";
import {
  type FileStat,
  type KnownContent,
  type RemoteInvocation,
  type RemoteScripts,
  RESTRICTED_LANGUAGE_EXIT,
  type StdinEncoding,
  BASE64_LINE_MAX,
  type TreeHashes,
  UPLOAD_HASH_MISMATCH_EXIT,
} from "./scripts";
import { decodeClixml, restrictedLanguageAdvice } from "./scripts/powershell";
import { type HostLogon, secondHopHint } from "./second-hop";
import { stdinEncoder } from "./scripts/stdin";

/**
 * How many bytes of the source at most `stdinBytes` of encoded stdin carry: all of them when
 * raw; for base64 lines, 3 per 4 characters, less one newline per BASE64_LINE_MAX characters.
 */
function sourceBytesIn(stdinBytes: number, encoding: StdinEncoding): number {
  if (encoding === "raw") return stdinBytes;
  return Math.floor(((stdinBytes * BASE64_LINE_MAX) / (BASE64_LINE_MAX + 1) / 4) * 3);
}

/** The part of WinRMClient file operations need. */
export interface CommandRunner {
  run(command: string, args: readonly string[], options: RunOptions): Promise<CommandResult>;
}

export interface UploadProgress {
  /** Bytes of the file sent so far. */
  sent: number;
  /** The file's size when known in advance. */
  total: number | undefined;
}

export interface UploadOptions {
  /** Size of the source, when known, for progress reports. */
  size?: number;
  /**
   * The source's SHA-256 and size, when the caller hashed it before (RemoteFile does): the
   * host then checks the content against them, with no trailer on the stream, and a source
   * that changed in between fails the upload (the destination is left as it was).
   */
  known?: KnownContent;
  onProgress?: (progress: UploadProgress) => void;
  timeoutMs?: number;
}

export interface FileOperationOptions {
  /**
   * How long sha256, stat, remove and mkdirp may take, each; default none. Hashing a FIFO or
   * a file on a hung share never ends, and without a limit nor would a refresh.
   */
  timeoutMs?: number;
  /** How the session logged on, for the advice on a share's "access denied"; default ntlm. */
  logon?: HostLogon;
}

export interface UploadResult {
  sha256: string;
  size: number;
  /**
   * False when the destination already held exactly these bytes and was left as it was (its
   * time stamps too); the upload scripts say which.
   */
  replaced: boolean;
}

/** Bytes read from the source per step; also the granularity of progress reports. */
const READ_CHUNK = 1024 * 1024;
/** Output kept from file operations: their output is small, errors included. */
const SMALL_OUTPUT = 256 * 1024;
/** A folder's listing of hashes: about 80 bytes a file, so some 400,000 files. */
const TREE_LISTING_MAX_BYTES = 32 * 1024 * 1024;

export class RemoteFiles {
  constructor(
    private readonly runner: CommandRunner,
    private readonly scripts: RemoteScripts,
    private readonly defaults: FileOperationOptions = {},
  ) {}

  private async invoke(
    invocation: RemoteInvocation,
    what: string,
    path: string,
    extra: Pick<RunOptions, "stdin" | "maxOutputBytes"> = {},
  ): Promise<string> {
    const timeoutMs = this.defaults.timeoutMs;
    let result: CommandResult;
    try {
      result = await this.runner.run(invocation.command, invocation.args, {
        skipCmdShell: invocation.skipCmdShell,
        maxOutputBytes: SMALL_OUTPUT,
        timeoutMs,
        ...extra,
      });
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      throw new TimeoutError(
        `${what} did not finish within ${error.timeoutMs / 1000} s and was stopped: the path may ` +
          "be a FIFO, a device or a file on a share that does not answer; raise the timeout for a " +
          "very large file",
        error.timeoutMs,
        { cause: error },
      );
    }
    if (result.exitCode !== 0) throw this.failure(what, path, result);
    return result.stdout.toString("utf8");
  }

  /** The error for a helper that exited non-zero, with advice where the cause is known. */
  private failure(what: string, path: string, result: CommandResult): WinRMError {
    const stderr = this.errorText(result.stderr);
    if (this.scripts.family === "powershell" && result.exitCode === RESTRICTED_LANGUAGE_EXIT) {
      const mode = /runs in (\w+) mode/.exec(stderr)?.[1] ?? "ConstrainedLanguage";
      return new UnsupportedError(`${what}: ${restrictedLanguageAdvice(mode)}`);
    }
    const error = new CommandFailedError(what, result.exitCode, stderr);
    const logon = this.defaults.logon ?? "ntlm";
    const hint = this.scripts.family === "powershell" ? secondHopHint(path, stderr, logon) : "";
    if (hint) error.message += `. ${hint}`;
    return error;
  }

  /** The host's script family, which also says how it compares paths (Windows: ignoring case). */
  get family(): RemoteScripts["family"] {
    return this.scripts.family;
  }

  /** Readable stderr: PowerShell's CLIXML error records decoded, other text as it is. */
  errorText(stderr: Buffer): string {
    const text = stderr.toString("utf8");
    return this.scripts.family === "powershell" ? decodeClixml(text) : text;
  }

  /** The remote file's SHA-256 in lowercase hex, or the word "absent". */
  async sha256(path: string): Promise<string> {
    return this.scripts.parseSha256(
      await this.invoke(this.scripts.sha256(path), `hashing ${path}`, path),
    );
  }

  async stat(path: string): Promise<FileStat> {
    return this.scripts.parseStat(
      await this.invoke(this.scripts.stat(path), `inspecting ${path}`, path),
    );
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.invoke(this.scripts.remove(path, options), `removing ${path}`, path);
  }

  async mkdirp(path: string): Promise<void> {
    await this.invoke(this.scripts.mkdirp(path), `creating ${path}`, path);
  }

  /**
   * Uploads `source` to `destination` as one command: the bytes stream over stdin followed by
   * their SHA-256, which the remote script checks before it moves the file into place, so an
   * interrupted or corrupted upload never leaves a partial file at the destination. Memory
   * stays bounded whatever the size: nothing is read ahead of what the host accepts.
   */
  async upload(
    source: ByteSource,
    destination: string,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    // The script creates the destination's folder too: one command per upload.
    const known = options.known;
    const invocation = this.scripts.upload(destination, known);
    const hash = createHash("sha256");
    let size = 0;
    async function* withTrailer(): AsyncGenerator<Buffer> {
      for await (const chunk of rechunk(source, READ_CHUNK)) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
      if (known === undefined) yield Buffer.from(hash.copy().digest("hex"), "latin1");
    }
    // Progress counts what the host has accepted, not what was read: reads run ahead.
    const report = options.onProgress;
    let sentStdin = 0;
    const onStdinSent = report
      ? (bytes: number) => {
          sentStdin += bytes;
          const sent = Math.min(size, sourceBytesIn(sentStdin, invocation.stdinEncoding));
          report({ sent, total: options.size });
        }
      : undefined;
    const result = await this.stream(invocation, withTrailer(), options.timeoutMs, onStdinSent);
    const sha256 = hash.digest("hex");
    if (known !== undefined && (sha256 !== known.sha256 || size !== known.size)) {
      // The host checked what arrived against the hash the upload began with, so it kept
      // the destination as it was.
      throw new IntegrityError(
        `the content for ${destination} changed while it was being uploaded (it no longer ` +
          `hashes to ${known.sha256}); the destination was left unchanged: run the update again`,
      );
    }
    if (result.exitCode === UPLOAD_HASH_MISMATCH_EXIT) {
      throw new IntegrityError(
        `the upload to ${destination} arrived corrupted (its SHA-256 did not match ${sha256}); ` +
          "the destination was left unchanged",
      );
    }
    if (result.exitCode !== 0)
      throw this.failure(`uploading to ${destination}`, destination, result);
    return { sha256, size, replaced: !/^unchanged\r?$/m.test(result.stdout.toString("utf8")) };
  }

  /**
   * Runs a script that reads all of `input` (encoded as the invocation asks) before it writes
   * anything, unless it fails: the uploads and the bundle.
   */
  private stream(
    invocation: RemoteInvocation,
    input: AsyncIterable<Uint8Array>,
    timeoutMs: number | undefined,
    onStdinSent?: (bytes: number) => void,
  ): Promise<CommandResult> {
    // pipeline(), not pipe(): a local read that fails must fail the encoder too (which its
    // reader then sees), and must not surface as an uncaught error before anyone reads.
    const stdin =
      invocation.stdinEncoding === "raw"
        ? input
        : pipeline(Readable.from(input), stdinEncoder(invocation.stdinEncoding), () => undefined);
    return this.runner.run(invocation.command, invocation.args, {
      skipCmdShell: invocation.skipCmdShell,
      stdin,
      inputBeforeOutput: true,
      maxOutputBytes: SMALL_OUTPUT,
      timeoutMs,
      onStdinSent,
    });
  }

  /** The SHA-256 of every file below `root` by relative path, or "absent". */
  async hashTree(root: string): Promise<TreeHashes | "absent"> {
    const tree = this.scripts.tree;
    return tree.parseHashTree(
      await this.invoke(tree.hashTree(root), `hashing the files in ${root}`, root, {
        maxOutputBytes: TREE_LISTING_MAX_BYTES,
      }),
    );
  }

  /**
   * Places `entries` below `root` in one command (a bundle: bundle.ts). Every file is checked
   * against its SHA-256 on the host before any is moved into place, so a failure leaves the
   * folder as it was. `onFile` is told as each file has been sent.
   */
  async placeFiles(
    root: string,
    entries: readonly BundleEntry[],
    options: { onFile?: (entry: BundleEntry, index: number) => void; timeoutMs?: number } = {},
  ): Promise<void> {
    const invocation = this.scripts.tree.placeBundle(root);
    // A file that changed or vanished locally ends the bundle early; the host then reports a
    // short bundle, but the local cause is what the caller must hear.
    let localFailure: Error | undefined;
    async function* guarded(): AsyncGenerator<Uint8Array> {
      try {
        yield* writeBundle(entries, options.onFile);
      } catch (error) {
        localFailure = error instanceof Error ? error : new Error(String(error));
        throw localFailure;
      }
    }
    const result = await this.stream(
      invocation,
      rechunk(guarded(), READ_CHUNK),
      options.timeoutMs,
    ).catch((error: unknown) => {
      throw localFailure ?? (error as Error);
    });
    if (localFailure !== undefined) throw localFailure;
    if (result.exitCode === UPLOAD_HASH_MISMATCH_EXIT) {
      throw new IntegrityError(
        `the files sent to ${root} arrived corrupted (${this.errorText(result.stderr).trim()}); ` +
          "no file was replaced",
      );
    }
    if (result.exitCode !== 0) throw this.failure(`placing files in ${root}`, root, result);
  }

  /** Removes the files at `paths` (relative to `root`); absent ones are fine. */
  async removeFiles(root: string, paths: readonly string[]): Promise<void> {
    if (paths.length === 0) return;
    await this.invoke(this.scripts.tree.removeFiles(root), `removing files in ${root}`, root, {
      stdin: Buffer.from(paths.map((path) => `${path}\n`).join(""), "utf8"),
    });
  }
}
