/**
 * pulumi-winrm: run commands and place files on Windows hosts over WinRM, with NTLM/Negotiate
 * message encryption, so a default-configured host needs no preparation.
 */
export type { ConnectionArgs } from "./connection";
export { RemoteCommand, type RemoteCommandArgs } from "./remote-command";
export { RemoteFile, type RemoteFileArgs } from "./remote-file";
export { Reboot, type RebootArgs } from "./reboot";
export { RemoteArchive, type RemoteArchiveArgs } from "./remote-archive";
export { WinRMClient } from "../provider/winrm/client";
export type { ClientOptions } from "../provider/winrm/options";
export type { WaitProgress } from "../provider/winrm/http/host-wait";
export * from "../provider/errors";
