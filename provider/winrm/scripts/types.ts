/**
 * The contract between the WinRM client and the remote helper scripts: what to run, how to
 * feed its stdin and how to read its stdout. Both script families implement RemoteScripts.
 */

export type ScriptFamily = "powershell" | "posix";

/** How the client encodes the bytes it writes to a command's stdin. */
export type StdinEncoding = "raw" | "base64-lines";

/** What to run: a command line for WinRS plus how its stdin must be encoded. */
export interface RemoteInvocation {
  /** The WinRS rsp:Command text (MS-WSMV 2.2.4.9 CommandLine). */
  command: string;
  /** rsp:Arguments, usually []. */
  args: string[];
  /** WINRS_SKIP_CMD_SHELL (MS-WSMV 2.2.4.9): run the command directly, not through cmd.exe. */
  skipCmdShell: boolean;
  /**
   * How the client must encode bytes it writes to stdin. "raw": bytes as they are.
   * "base64-lines": base64 text (RFC 4648 section 4, padded) in lines of at most
   * BASE64_LINE_MAX characters, each ending "\n"; each line encodes a whole chunk on its own.
   */
  stdinEncoding: StdinEncoding;
}

export interface FileStat {
  exists: boolean;
  type?: "file" | "directory" | "other";
  /** Bytes; only for files. */
  size?: number;
  /** Last modification time, ISO 8601 in UTC. */
  modified?: string;
}

export interface RemoveOptions {
  /** Remove a directory and everything below it; without it a directory is refused. */
  recursive?: boolean;
}

export interface RemoteScripts {
  readonly family: ScriptFamily;
  /** Run an arbitrary script of any length; the client writes the script (UTF-8) to stdin, then closes stdin. */
  runScript(): RemoteInvocation;
  /** stdout is exactly one line: 64 lowercase hex digits, or the word "absent". */
  sha256(path: string): RemoteInvocation;
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- names the sentinel
  parseSha256(stdout: string): string | "absent";
  /** stdout: one line of JSON FileStat. */
  stat(path: string): RemoteInvocation;
  parseStat(stdout: string): FileStat;
  /** Removes a file (or, with recursive, a directory tree); succeeds if the path is already absent. */
  remove(path: string, options?: RemoveOptions): RemoteInvocation;
  /** mkdir -p semantics; succeeds if it exists as a directory. */
  mkdirp(path: string): RemoteInvocation;
  /**
   * Upload as one command. It first prepares the destination's folder: mkdirp, then removes
   * the temporary files of earlier uploads there whose process has gone (killed before its
   * clean-up could run: WinRS Signal terminate and a shell's deletion end processes
   * outright). A temporary file's name carries its upload's process id (UPLOAD_TEMP_PREFIX,
   * then the id, then "-"); one whose process still runs, one of another user, and a ".old"
   * file (the replaced content, kept while the new file moves in) are left alone. This was a
   * command of its own, which on Windows cost a second powershell.exe start per upload.
   * Then stdin carries the content and, as its last 64 bytes before
   * encoding, the lowercase hex SHA-256 of the content. The script writes a temporary file
   * beside the destination, verifies the hash and only then moves it over the destination.
   * Exit code 0 on success, UPLOAD_HASH_MISMATCH_EXIT when the content does not verify (or the
   * stream ended before its trailer); no partial file is ever left at the destination.
   * A destination that already holds the same bytes is left untouched; stdout says `unchanged`
   * or `replaced`.
   *
   * With `known` (the sender hashed the content before sending it, as RemoteFile does), the
   * hash and size are in the script and stdin carries the content alone: the script needs no
   * trailer handling (on POSIX three process starts fewer; in PowerShell no copy per line).
   */
  upload(destination: string, known?: KnownContent): RemoteInvocation;
  /** Restarting the host and telling when it booted (the Reboot resource). */
  readonly power: RemotePower;
  /** A folder's files as a whole (the RemoteArchive resource). */
  readonly tree: RemoteTree;
}

/** The hashes of the files below a folder, by path relative to it ("/" separators). */
export type TreeHashes = Map<string, string>;

/**
 * A folder of files placed and checked as a whole. Paths relative to the folder use "/" and
 * never hold a line break; the temporaries of uploads (UPLOAD_TEMP_PREFIX) are never listed.
 */
export interface RemoteTree {
  /**
   * stdout: the word "absent" when the folder does not exist; else one line per file below
   * it: 64 lowercase hex digits, a space, the relative path.
   */
  hashTree(root: string): RemoteInvocation;

  parseHashTree(stdout: string): TreeHashes | "absent";
  /**
   * stdin: a bundle (provider/winrm/bundle.ts). The files are written to a staging folder
   * inside the root, every one is checked against the manifest's SHA-256, and only then is
   * each moved over its destination (a rename: no reader sees a partial file). Exit code
   * UPLOAD_HASH_MISMATCH_EXIT when any file does not verify; nothing is moved then.
   */
  placeBundle(root: string): RemoteInvocation;
  /** stdin: relative paths, one per line, UTF-8. Removes each file; an absent one is fine. */
  removeFiles(root: string): RemoteInvocation;
}

/**
 * The host's boot time, whether it needs a restart, and asking it to restart. Each is one
 * command whose stdout the client parses with the family's parser.
 */
export interface RemotePower {
  /** stdout: one line, when the host last booted, ISO 8601 in UTC. */
  bootTime(): RemoteInvocation;
  /** The boot time from bootTime's stdout; throws when it is not a timestamp. */
  parseBootTime(stdout: string): Date;
  /** stdout: one line per reason the host needs a restart; nothing when none is pending. */
  pendingRestart(): RemoteInvocation;
  /**
   * Asks the host to restart after `delaySeconds`, noting `message` (the host's own shutdown
   * mechanism: shutdown.exe on Windows, shutdown elsewhere). Exit code 0: accepted. A
   * restart already scheduled by someone else is replaced by this one, and stdout says so.
   */
  restart(message: string, delaySeconds: number): RemoteInvocation;
}

/** What the sender of an upload knows of the content before sending it. */
export interface KnownContent {
  /** Lowercase hex SHA-256. */
  sha256: string;
  size: number;
}

/** The known content's SHA-256, checked to be what a script may hold verbatim: 64 hex digits. */
export function checkedSha256(known: KnownContent): string {
  if (!/^[0-9a-f]{64}$/.test(known.sha256) || !Number.isSafeInteger(known.size) || known.size < 0) {
    throw new TypeError("an upload's known content needs a lowercase hex SHA-256 and a size");
  }
  return known.sha256;
}

/** Exit code of an upload whose content does not match its SHA-256 trailer. */
export const UPLOAD_HASH_MISMATCH_EXIT = 3;

/** Exit code of an operation refused because the path has the wrong type (a directory). */
export const WRONG_TYPE_EXIT = 2;

/**
 * Exit code of a PowerShell helper that found itself in a language mode other than
 * FullLanguage (Constrained Language Mode under an App Control or AppLocker policy).
 */
export const RESTRICTED_LANGUAGE_EXIT = 4;

/**
 * The name prefix of an upload's temporary file, created in the destination's directory and
 * followed by the uploading process's id and "-" (see RemoteScripts.upload).
 */
export const UPLOAD_TEMP_PREFIX = ".pulumi-winrm-upload-";

/**
 * Longest stdin line for "base64-lines": 32,768 characters (24,576 bytes decoded). Each line is
 * one string in PowerShell, two bytes a character, and .NET puts objects of 85,000 bytes and
 * more on its large object heap, collected only with the whole heap: lines of 65,536
 * characters (131 KB strings) made pwsh's decoding loop take 680-730 ms per 100 MB, lines of
 * 32,768 about 500 ms (issue 15; 16,384 gave the same). Both .NET Framework (powershell.exe
 * 5.1) and .NET have that threshold.
 */
export const BASE64_LINE_MAX = 32768;

/** Length of the hex SHA-256 trailer that ends every upload stream. */
export const SHA256_HEX_LENGTH = 64;
