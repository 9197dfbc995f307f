/**
 * KRB-ERROR codes (RFC 4120 7.5.9) turned into KerberosErrors whose messages say what to
 * change. The principal and the service are named; a password or key never is.
 */
import { KerberosError, type KerberosFailure } from "../../errors";
import type { KrbErrorMessage } from "./messages";
import { principalToString } from "./messages";

export const KrbErrorCode = Object.freeze({
  KDC_ERR_C_PRINCIPAL_UNKNOWN: 6,
  KDC_ERR_S_PRINCIPAL_UNKNOWN: 7,
  KDC_ERR_NEVER_VALID: 11,
  KDC_ERR_POLICY: 12,
  KDC_ERR_BADOPTION: 13,
  KDC_ERR_ETYPE_NOSUPP: 14,
  KDC_ERR_CLIENT_REVOKED: 18,
  KDC_ERR_TGT_REVOKED: 20,
  KDC_ERR_KEY_EXPIRED: 23,
  KDC_ERR_PREAUTH_FAILED: 24,
  KDC_ERR_PREAUTH_REQUIRED: 25,
  KRB_AP_ERR_BAD_INTEGRITY: 31,
  KRB_AP_ERR_TKT_EXPIRED: 32,
  KRB_AP_ERR_TKT_NYV: 33,
  KRB_AP_ERR_REPEAT: 34,
  KRB_AP_ERR_NOT_US: 35,
  KRB_AP_ERR_BADMATCH: 36,
  KRB_AP_ERR_SKEW: 37,
  KRB_AP_ERR_MODIFIED: 41,
  KRB_AP_ERR_BADKEYVER: 44,
  KRB_AP_ERR_NOKEY: 45,
  KRB_ERR_RESPONSE_TOO_BIG: 52,
  KRB_ERR_GENERIC: 60,
  KDC_ERR_WRONG_REALM: 68,
} as const);

/** Kerberos' default limit on clock difference (RFC 4120 1.7 suggests 5 minutes). */
const SKEW_LIMIT = "5 minutes";

export interface ErrorContext {
  /** The client principal, user@REALM. */
  client: string;
  /** The service principal being asked for, when there is one. */
  service?: string;
  /** Local time when the error arrived, to measure skew against the peer's stime. */
  now: Date;
}

function describe(error: KrbErrorMessage): string {
  const text = error.eText ? `: ${error.eText.replace(/[\r\n]+/g, " ").slice(0, 200)}` : "";
  return `KRB-ERROR ${error.errorCode}${text}`;
}

export function fromKrbError(error: KrbErrorMessage, context: ErrorContext): KerberosError {
  const code = error.errorCode;
  const service = context.service ?? principalToString(error.sname, error.realm);
  const make = (failure: KerberosFailure, message: string) =>
    new KerberosError(failure, `${message} (${describe(error)})`, {
      user: context.client,
      kerberosCode: code,
    });
  switch (code) {
    case KrbErrorCode.KDC_ERR_PREAUTH_FAILED:
    case KrbErrorCode.KRB_AP_ERR_BAD_INTEGRITY:
      return make(
        "wrong-password",
        `the KDC of ${error.realm} refused the password of ${context.client}: check the password ` +
          "(and that the user name's case and realm are right)",
      );
    case KrbErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
      return make(
        "unknown-principal",
        `the KDC of ${error.realm} knows no user ${context.client}: check the user name and the ` +
          "realm (write it as user@REALM, the realm in capitals)",
      );
    case KrbErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
      return make(
        "unknown-service",
        `the KDC of ${error.realm} knows no service principal ${service}: connect by the host's ` +
          "DNS name in the domain (not an IP address or a CNAME), or set the spn option to the " +
          "name the host is registered under (setspn -L <host> lists them)",
      );
    case KrbErrorCode.KRB_AP_ERR_SKEW: {
      const seconds = Math.round(Math.abs(context.now.getTime() - error.stime.getTime()) / 1000);
      return make(
        "clock-skew",
        `this machine's clock and ${error.realm}'s differ by about ${seconds} s, more than ` +
          `Kerberos allows (usually ${SKEW_LIMIT}): synchronise both clocks (NTP)`,
      );
    }
    case KrbErrorCode.KRB_AP_ERR_TKT_EXPIRED:
      return make(
        "ticket-expired",
        `a ticket of ${context.client} has expired: run kinit again, or give a password or ` +
          "keytab so tickets are renewed automatically",
      );
    case KrbErrorCode.KDC_ERR_CLIENT_REVOKED:
      return make(
        "account-unusable",
        `the account ${context.client} is disabled, locked out or expired in ${error.realm}`,
      );
    case KrbErrorCode.KDC_ERR_KEY_EXPIRED:
      return make(
        "account-unusable",
        `the password of ${context.client} has expired: change it, then try again`,
      );
    case KrbErrorCode.KDC_ERR_ETYPE_NOSUPP:
      return make(
        "unsupported-enctype",
        `the KDC of ${error.realm} shares no encryption type with this client (it offers ` +
          "aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 and rc4-hmac): enable AES for the " +
          "account or the service",
      );
    case KrbErrorCode.KDC_ERR_WRONG_REALM:
      return make(
        "wrong-realm",
        `${error.realm} is not the realm of ${context.client}: write the user as user@REALM with ` +
          "the realm that holds the account",
      );
    case KrbErrorCode.KRB_AP_ERR_MODIFIED:
    case KrbErrorCode.KRB_AP_ERR_BADKEYVER:
    case KrbErrorCode.KRB_AP_ERR_NOKEY:
    case KrbErrorCode.KRB_AP_ERR_NOT_US:
      return make(
        "acceptor-key",
        `the service ${service} could not read its ticket: its key differs from the KDC's ` +
          "(a stale keytab, or the SPN registered to another account)",
      );
    default:
      return make("protocol", `Kerberos failed for ${context.client} and ${service}`);
  }
}
