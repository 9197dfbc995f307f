import type * as pulumi from "@pulumi/pulumi";

/**
 * How to reach a Windows host over WinRM. The whole connection is stored as a secret.
 *
 * The defaults reach a fresh Windows Server as it ships: HTTP on 5985 with Negotiate (NTLM in
 * a workgroup) and every message encrypted with the session key, no Basic, no
 * AllowUnencrypted. Nothing needs enabling on the host first.
 */
export interface ConnectionArgs {
  /** Host name or IP address. */
  host: pulumi.Input<string>;
  /** Default 5985, or 5986 with `https`. */
  port?: pulumi.Input<number>;
  /** `DOMAIN\user`, `user@domain` (UPN) or a local `user`. */
  user: pulumi.Input<string>;
  /**
   * Pass it as a secret (a secret config value or `pulumi.secret(...)`). Required, except with
   * auth "kerberos", where a keytab or the credential cache kinit wrote can serve instead.
   */
  password?: pulumi.Input<string>;
  /**
   * "negotiate" (default: SPNEGO, with Kerberos where it is configured and NTLM otherwise),
   * "kerberos" (never NTLM), "ntlm" (raw NTLM) or "basic".
   */
  auth?: pulumi.Input<"negotiate" | "kerberos" | "ntlm" | "basic">;
  /** Kerberos: the realm of a user written `DOMAIN\user` or bare. */
  realm?: pulumi.Input<string>;
  /** Kerberos: the realm's KDCs, comma-separated `host[:port]`. Default: krb5.conf, then DNS. */
  kdc?: pulumi.Input<string>;
  /** Kerberos: the host's service principal. Default `HTTP/<host>`. */
  spn?: pulumi.Input<string>;
  /** Kerberos: a keytab file with the user's keys, instead of a password. */
  keytab?: pulumi.Input<string>;
  /** Kerberos: the credential cache kinit wrote. Default `KRB5CCNAME`, then /tmp/krb5cc_<uid>. */
  ccache?: pulumi.Input<string>;
  /** Use HTTPS (port 5986 by default). */
  https?: pulumi.Input<boolean>;
  /** Skip TLS certificate verification. Not recommended: prefer caCert or certFingerprint. */
  insecure?: pulumi.Input<boolean>;
  /** PEM CA bundle that signed the host's certificate. */
  caCert?: pulumi.Input<string>;
  /** SHA-256 fingerprint of the host's certificate (hex, colons allowed). */
  certFingerprint?: pulumi.Input<string>;
  /** Permit Basic or unencrypted messages over plain HTTP. Default false. */
  allowUnencrypted?: pulumi.Input<boolean>;
  /** WS-Management OperationTimeout, seconds. Default 20. */
  operationTimeout?: pulumi.Input<number>;
  /** How long to wait for a host that is still booting, seconds. Default 300. */
  readyTimeout?: pulumi.Input<number>;
  /** Operations in flight at once against this host. Default 10. */
  maxConcurrency?: pulumi.Input<number>;
  /**
   * The family of scripts for RemoteFile and for runScript: "auto" (the default) follows the
   * host's Identify answer (Microsoft: PowerShell, otherwise POSIX sh); "powershell" or "posix"
   * pins it, so that nothing the host or the network says can change which scripts run.
   */
  scripts?: pulumi.Input<"auto" | "powershell" | "posix">;
}
