/**
 * The "second hop": a path on another machine (a UNC path, \\server\share\...) reached from a
 * WinRM session. A session authenticated by NTLM holds no credential the host could present to
 * a third machine (MS-NLMP 1.3: the server only ever sees a challenge response, never a reusable
 * secret), so the file server sees an anonymous logon and usually answers "access denied". With
 * Basic the host logs the account on with its password and can reach the share.
 */
import { win32 } from "node:path";

/** How the session authenticated, as far as the second hop cares. */
export type HostLogon = "ntlm" | "basic";

/** Access denied, a failed logon or a bad password, as Windows words them. */
const DENIED = /access (to the path .*)?is denied|logon failure|user name or password|0x80070005/i;

/**
 * True for \\server\share\... and //server/share/..., and for the long form
 * \\?\UNC\server\share\...; false for a drive path, \\?\C:\... and \\.\ device paths.
 */
export function isUncPath(path: string): boolean {
  const slashes = path.replace(/\//g, "\\");
  if (/^\\\\\?\\UNC\\/i.test(slashes)) return true;
  if (/^\\\\[?.]\\/.test(slashes)) return false;
  return win32.isAbsolute(slashes) && /^\\\\[^\\]+\\[^\\]+/.test(slashes);
}

/**
 * A sentence to add to an error about `path` when it is on another machine and the failure
 * looks like the missing second hop; "" otherwise.
 */
export function secondHopHint(path: string, stderr: string, logon: HostLogon): string {
  if (logon === "basic" || !isUncPath(path) || !DENIED.test(stderr)) return "";
  return (
    `${path} is on another machine: a session authenticated by NTLM has no credentials the ` +
    "host can pass on to it (the second hop), so the share sees an anonymous logon. Put the " +
    "file on a local path of the host and copy it to the share from there with a RemoteCommand " +
    "that gives the share its own credentials, or grant the share access to the host's " +
    "computer account"
  );
}
