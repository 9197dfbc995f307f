/**
 * Bootstrap a fresh Windows Server over WinRM with its default configuration (HTTP 5985,
 * Negotiate, message encryption; nothing enabled by hand first):
 *
 *   - install IIS, guarded by a test so later runs do nothing when it is installed;
 *   - restart the host if the install left a restart pending, and wait until IIS answers;
 *   - place the site's folder (only changed files travel) and its configuration file;
 *   - restart the site whenever that file's content changes (triggers);
 *   - report drift on `pulumi refresh` if someone changes the feature or the file by hand.
 *
 * Config: `pulumi config set host <address>`, `pulumi config set user Administrator`,
 * `pulumi config set --secret password <password>`.
 */
import * as pulumi from "@pulumi/pulumi";
import { Reboot, RemoteArchive, RemoteCommand, RemoteFile } from "pulumi-winrm";

const config = new pulumi.Config();
const connection = {
  host: config.require("host"),
  user: config.require("user"),
  password: config.requireSecret("password"),
  // A host that was just created may still be booting: keep trying for ten minutes.
  readyTimeout: 600,
};

const iis = new RemoteCommand("iis", {
  connection,
  test: "if ((Get-WindowsFeature Web-Server).Installed) { exit 0 } else { exit 1 }",
  // -ErrorAction Stop: a failed installation ends the script with exit code 1 and fails `up`
  // (a PowerShell error that only ends its statement would leave the exit code at 0).
  create: "Install-WindowsFeature Web-Server -IncludeManagementTools -ErrorAction Stop | Out-Null",
  read: "(Get-WindowsFeature Web-Server).InstallState.ToString()",
  delete: "Uninstall-WindowsFeature Web-Server -ErrorAction Stop | Out-Null",
  timeout: 1800,
});

// Feature installs may leave Windows needing a restart: do it now, only if it is pending,
// and go on once the web server's service runs again.
const restartAfterInstall = new Reboot(
  "after-iis",
  {
    connection,
    when: "pending",
    triggers: [iis.id],
    test: "if ((Get-Service W3SVC).Status -ne 'Running') { exit 1 }",
  },
  { dependsOn: [iis] },
);

// The site's files from ./site next to this program; files removed there are removed on the host.
const site = new RemoteArchive(
  "site",
  { connection, source: "./site", remotePath: "C:\\inetpub\\wwwroot\\app", prune: true },
  { dependsOn: [restartAfterInstall] },
);

const siteConfig = new RemoteFile(
  "site-config",
  {
    connection,
    path: "C:\\inetpub\\wwwroot\\app.config.json",
    content: JSON.stringify({ greeting: "hello from Pulumi", replicas: 3 }, null, 2),
  },
  { dependsOn: [restartAfterInstall] },
);

export const restart = new RemoteCommand(
  "restart-site",
  {
    connection,
    create: "Restart-WebAppPool -Name DefaultAppPool -ErrorAction Stop",
    // A new configuration file replaces this resource, which runs the restart again.
    triggers: [siteConfig.sha256],
  },
  { dependsOn: [siteConfig] },
);

export const iisState = iis.state;
export const configSha256 = siteConfig.sha256;
export const siteFiles = site.files;
export const bootTime = restartAfterInstall.bootTime;
