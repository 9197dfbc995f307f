/**
 * Remote helper scripts: how the WinRM client hashes, inspects, removes, creates and uploads
 * files, and runs scripts of any length, on the two families of hosts it meets. Each
 * operation is one RemoteInvocation: a WinRS command line plus how stdin must be encoded.
 *
 * Windows hosts get Windows PowerShell 5.1 (powershell.ts); non-Windows WinRM hosts, such as
 * the project's loopback host, get POSIX sh (posix.ts). The client picks the family from the
 * Identify response (a ProductVendor naming Microsoft means powershell) unless told.
 */
import { powerShellScripts, type PowerShellOptions } from "./powershell";
import { posixScripts } from "./posix";
import type { RemoteScripts, ScriptFamily } from "./types";

export type {
  FileStat,
  KnownContent,
  RemoteInvocation,
  RemotePower,
  RemoteScripts,
  RemoteTree,
  TreeHashes,
  RemoveOptions,
  ScriptFamily,
  StdinEncoding,
} from "./types";
export {
  BASE64_LINE_MAX,
  SHA256_HEX_LENGTH,
  RESTRICTED_LANGUAGE_EXIT,
  UPLOAD_HASH_MISMATCH_EXIT,
  UPLOAD_TEMP_PREFIX,
  WRONG_TYPE_EXIT,
} from "./types";
export { decodeClixml, CMD_MAX_COMMAND_LINE, type PowerShellOptions } from "./powershell";
export { base64Lines, stdinEncoder } from "./stdin";
export { quotePosix, quotePowerShell } from "./quote";

/** The scripts for `family`; `options` apply to the powershell family only. */
export function scriptsFor(family: ScriptFamily, options: PowerShellOptions = {}): RemoteScripts {
  switch (family) {
    case "powershell":
      return powerShellScripts(options);
    case "posix":
      return posixScripts;
    default:
      throw new TypeError(`unknown script family: ${String(family satisfies never)}`);
  }
}
