"""MIT Kerberos' GSSAPI, through python-gssapi, as a long-running peer for the Node interop tests.

Run by Debian's /usr/bin/python3 with its python3-gssapi (test/setup/system.sh installs it), so
the other side of our Kerberos code is the system's libgssapi_krb5 itself, not a reimplementation.
One security context per process, driven over stdin/stdout with the frames of
peer_framing.py (shared with pyspnego_peer.py):

    frame = u32be H | H bytes of UTF-8 JSON header | u32be B | B bytes of binary body

Each request frame gets exactly one response frame, in order. A request's header names its
operation in "op"; a response header carries "ok". A failed operation answers
{"ok": false, "error": <exception class name>, "message": str(exception)} and, for a GSSAPI
failure, also "major" and "minor" (the status codes), "gssMessage" (MIT's texts for both) and
"errorToken" (base64, when the mechanism produced one, e.g. a KRB-ERROR from the acceptor). The
process keeps serving. End of input at a frame boundary ends the process with status 0.

Credentials come from the environment the Node side sets (KRB5_CONFIG for the realm, KRB5CCNAME
for an initiator, KRB5_KTNAME for an acceptor, KRB5RCACHEDIR for the acceptor's replay cache) or
from init's ccache / keytab, which go through the credential store extension instead.

Operations (request header -> response header, body):

    init        {role: "initiate"|"accept", mech: "krb5"|"spnego", target?, channelBindings?
                 (base64 application data), flags? (list, see FLAGS), ccache?, keytab?,
                 enctypes? (list of enctype numbers)} -> {ok}
                 target: "service@host" is a host-based service name, anything with a "/" or
                 an "@REALM" after one is a Kerberos principal name. Required to initiate; for
                 an acceptor it picks the keytab entry (absent: any entry of the keytab).
                 enctypes: gss_krb5_set_allowable_enctypes on the credential. On an initiator it
                 limits the TGS request and the RFC 4537 list in the authenticator; on an
                 acceptor it limits which subkey the acceptor may pick. Without it, MIT on both
                 sides upgrades every context to an aes256 acceptor subkey (RFC 4537), whatever
                 the ticket's session key, so an rc4 or aes128 context needs it on one side.
    step        body = input token (empty: none) -> {ok, complete, mech?, initiatorName?,
                 flags?, enctype?}, body = output token (empty: none)
    info        -> {ok, complete, mech?, flags?, enctype?, initiatorName?, targetName?,
                 locallyInitiated?}
    wrapWinrm   {size} -> {ok, sha256, headerLength, paddingLength},
                 body = header || data || padding (the peer wraps `size` random bytes of its own)
    wrapWinrmData  body = plaintext -> the same, for the given plaintext
    unwrapWinrm {headerLength, method?, paddingLength?} body = header || data
                 -> {ok, sha256, method}, empty body
    unwrapWinrmData  the same -> {ok, method}, body = plaintext
    wrap        {conf? (default true)} body = plaintext -> {ok, encrypted}, body = token (gss_wrap)
    unwrap      body = token -> {ok, encrypted, qop}, body = plaintext (gss_unwrap)
    getMic      body = message -> {ok}, body = MIC token
    verifyMic   {micLength} body = MIC token || message -> {ok, qop}
    sessionKey  -> {ok, enctype}, body = the key that protects messages (GSS_C_INQ_SSPI_SESSION_KEY:
                 the acceptor subkey when there is one, else the initiator subkey); empty body
                 before the context is complete

The WinRM layout: a sender calls gss_wrap_iov with confidentiality and the buffers HEADER
(allocated), DATA (the plaintext, encrypted in place), PADDING (allocated), and sends
header || data || padding with the header's length in front; a receiver gets the header and one
blob of data || padding. unwrapWinrm's method says how the blob goes back into GSSAPI:

    "iov"        gss_unwrap_iov with HEADER (header), DATA (the whole blob). Right for RFC 4121
                 (CFX, aes) tokens, whose padding is always empty, and for RFC 1964 (rc4) tokens
                 of a DCE-style context, which have no padding either.
    "iovPadding" gss_unwrap_iov with HEADER, DATA (blob minus the last paddingLength bytes),
                 PADDING (those bytes).
    "unwrap"     gss_unwrap of header || blob: a non-DCE rc4 header is the start of one whole
                 RFC 1964 token whose DER length counts the data and the padding byte, so plain
                 unwrap takes it; "iov" would leave the padding byte on the plaintext.
    "auto"       (default) "iov" for a CFX header (05 04) or a DCE-style context, else "unwrap".

python-gssapi's IOV STREAM form (STREAM + empty DATA) is not offered: with python-gssapi 1.8.2
it frees memory it does not own and aborts the process.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import typing

import gssapi.raw as gss
from gssapi.raw import IOV, IOVBufferType

# peer_framing.py sits beside this script. Under /usr/bin/python3 -I (how gssapi-peer.ts runs it)
# the script's own folder is not on sys.path, so it goes there before the import; and no
# __pycache__ goes beside the sources, which the repository does not ignore.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_framing import PeerProtocolError, exception_reply, optional_str, serve  # noqa: E402

MAX_WRAP_SIZE = 64 << 20

KRB5_OID = gss.OID.from_int_seq("1.2.840.113554.1.2.2")
SPNEGO_OID = gss.OID.from_int_seq("1.3.6.1.5.5.2")
MECHS = {"krb5": KRB5_OID, "spnego": SPNEGO_OID}
# The DER body of each OID, to recognise the mechanism of an initial context token.
KRB5_OID_DER = bytes.fromhex("2a864886f712010202")
SPNEGO_OID_DER = bytes.fromhex("2b0601050502")
# GSS_C_INQ_SSPI_SESSION_KEY (MIT): answers the key and the OID 1.2.840.113554.1.2.2.4.<enctype>.
SESSION_KEY_OID = gss.OID.from_int_seq("1.2.840.113554.1.2.2.5.5")
ENCTYPE_OID_PREFIX = "1.2.840.113554.1.2.2.4."

Flag = gss.RequirementFlag
FLAGS = {
    "delegate": Flag.delegate_to_peer,
    "mutual": Flag.mutual_authentication,
    "replay": Flag.replay_detection,
    "sequence": Flag.out_of_sequence_detection,
    "confidentiality": Flag.confidentiality,
    "integrity": Flag.integrity,
    "anonymity": Flag.anonymity,
    "dce_style": Flag.dce_style,
    "identify": Flag.identify,
}
# Output-only flags reported by step and info, besides the ones above.
REPORTED_FLAGS = dict(
    FLAGS,
    protection_ready=Flag.protection_ready,
    transferable=Flag.transferable,
    channel_bound=Flag.channel_bound,
    ok_as_delegate=Flag.ok_as_delegate,
)
# What a WinRM client asks for; MIT grants integrity and confidentiality whatever is asked.
DEFAULT_FLAGS = ["mutual", "sequence", "replay", "integrity", "confidentiality"]

UNWRAP_METHODS = ("auto", "iov", "iovPadding", "unwrap")


def bounded_int(request: typing.Dict[str, typing.Any], key: str, low: int, high: int) -> int:
    value = request.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or value > high:
        raise ValueError("%s must be an integer between %d and %d" % (key, low, high))
    return value


def import_target(target: str) -> gss.Name:
    # "HTTP@host" is RFC 2743's host-based form; a "/" only occurs in a Kerberos principal
    # ("HTTP/host" or "HTTP/host@REALM"), which MIT then takes literally, without any lookup.
    if "/" in target:
        return gss.import_name(target.encode("utf-8"), gss.NameType.kerberos_principal)
    return gss.import_name(target.encode("utf-8"), gss.NameType.hostbased_service)


def mech_name(oid: typing.Optional[gss.OID]) -> typing.Optional[str]:
    if oid is None:
        return None
    for name, known in MECHS.items():
        if oid == known:
            return name
    return oid.dotted_form


def token_mech(token: bytes) -> typing.Optional[str]:
    """The mechanism named by an initial context token (RFC 2743 3.1), or None."""
    if token[:1] == b"\x6e":
        # A bare AP-REQ ([APPLICATION 14]): MIT's DCE-style initiator leaves out the RFC 2743
        # framing of its first token.
        return "krb5"
    if len(token) < 2 or token[0] != 0x60:
        return None
    at = 2
    if token[1] & 0x80:
        at += token[1] & 0x7F
    if len(token) < at + 2 or token[at] != 0x06:
        return None
    oid = token[at + 2 : at + 2 + token[at + 1]]
    if oid == KRB5_OID_DER:
        return "krb5"
    if oid == SPNEGO_OID_DER:
        return "spnego"
    return oid.hex()


def flag_names(flags: typing.Any) -> typing.List[str]:
    value = int(flags)
    return sorted(name for name, flag in REPORTED_FLAGS.items() if value & int(flag))


def error_reply(error: Exception) -> typing.Dict[str, typing.Any]:
    """exception_reply, and for a GSSError its status codes, MIT's texts and any error token."""
    reply = exception_reply(error)
    if not isinstance(error, gss.GSSError):
        return reply
    reply["major"] = error.maj_code
    reply["minor"] = error.min_code
    try:
        reply["gssMessage"] = error.gen_message()
    except Exception:  # the texts are a nicety; the codes are what matter
        pass
    if getattr(error, "token", None):
        reply["errorToken"] = base64.b64encode(error.token).decode("ascii")
    return reply


class Peer:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ctx: typing.Optional[gss.SecurityContext] = None
        self.role: typing.Optional[str] = None
        self.mech = KRB5_OID
        self.mech_label = "krb5"
        self.target: typing.Optional[gss.Name] = None
        self.creds: typing.Optional[gss.Creds] = None
        self.flags: typing.List[Flag] = []
        self.bindings: typing.Optional[gss.ChannelBindings] = None
        self.started = False
        self.complete = False
        self.granted_flags = 0

    def context(self) -> gss.SecurityContext:
        if self.ctx is None:
            raise PeerProtocolError("no security context: send init and step first")
        return self.ctx

    def established(self) -> gss.SecurityContext:
        ctx = self.context()
        if not self.complete:
            raise PeerProtocolError("the security context is not complete yet")
        return ctx

    def op_init(self, request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        role = request.get("role")
        mech = request.get("mech", "krb5")
        if role not in ("initiate", "accept"):
            raise ValueError("role must be 'initiate' or 'accept', got %r" % (role,))
        if mech not in MECHS:
            raise ValueError("mech must be 'krb5' or 'spnego', got %r" % (mech,))

        flag_list = request.get("flags", DEFAULT_FLAGS)
        if not isinstance(flag_list, list) or any(f not in FLAGS for f in flag_list):
            raise ValueError("flags must be a list of %s" % ", ".join(sorted(FLAGS)))
        enctypes = request.get("enctypes")
        if enctypes is not None and (
            not isinstance(enctypes, list)
            or not enctypes
            or any(not isinstance(e, int) or isinstance(e, bool) for e in enctypes)
        ):
            raise ValueError("enctypes must be a non-empty list of enctype numbers")

        target = optional_str(request, "target")
        if role == "initiate" and target is None:
            raise ValueError("an initiator needs a target")

        bindings = None
        encoded_bindings = optional_str(request, "channelBindings")
        if encoded_bindings is not None:
            # Address types stay GSS_C_AF_UNSPEC with no address, as WinRM's bindings do: only
            # the application data ("tls-server-end-point:" + certificate hash) counts.
            bindings = gss.ChannelBindings(application_data=base64.b64decode(encoded_bindings, validate=True))

        store: typing.Dict[str, str] = {}
        ccache = optional_str(request, "ccache")
        keytab = optional_str(request, "keytab")
        if ccache is not None:
            store["ccache"] = ccache
        if keytab is not None:
            store["keytab"] = keytab

        name = import_target(target) if target is not None else None
        usage = "initiate" if role == "initiate" else "accept"
        # The credential is always acquired here rather than left to the default inside
        # init/accept, so that it can carry allowable enctypes. For SPNEGO it is a SPNEGO
        # credential: MIT's SPNEGO passes the option down to its krb5 element, whereas a krb5
        # credential handed to a SPNEGO context would be dropped for a fresh default one.
        cred_mechs = [MECHS[mech]]
        cred_name = name if role == "accept" else None
        if store:
            creds = gss.acquire_cred_from(store, name=cred_name, mechs=cred_mechs, usage=usage).creds
        else:
            creds = gss.acquire_cred(cred_name, mechs=cred_mechs, usage=usage).creds
        if enctypes is not None:
            gss.krb5_set_allowable_enctypes(creds, enctypes)

        self.reset()  # a second init starts a fresh context
        self.role = role
        self.mech = MECHS[mech]
        self.mech_label = mech
        self.target = name
        self.creds = creds
        self.flags = [FLAGS[f] for f in flag_list]
        self.bindings = bindings
        return {"ok": True}, b""

    def op_step(self, _request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        if self.role is None:
            raise PeerProtocolError("no security context: send init first")
        if self.complete:
            raise PeerProtocolError("the security context is already complete")

        if self.role == "initiate":
            if self.started and not body:
                raise ValueError("the initiator needs the acceptor's token after its first step")
            assert self.target is not None
            result = gss.init_sec_context(
                self.target,
                creds=self.creds,
                context=self.ctx,
                mech=self.mech,
                flags=self.flags,
                channel_bindings=self.bindings,
                input_token=body or None,
            )
            self.ctx = result.context
            self.started = True
            self.complete = not result.more_steps
            self.granted_flags = int(result.flags)
            out_token = result.token or b""
        else:
            if not body:
                raise ValueError("the acceptor needs a token")
            if not self.started:
                # Accepting under a SPNEGO credential would take a raw krb5 token as well (and the
                # reverse fails less clearly): insist that the initiator used the mech asked for.
                seen = token_mech(body)
                if seen != self.mech_label:
                    got = seen or "no GSS framing"
                    raise ValueError("expected an initial %s token, got %s" % (self.mech_label, got))
            result = gss.accept_sec_context(
                body,
                acceptor_creds=self.creds,
                context=self.ctx,
                channel_bindings=self.bindings,
            )
            self.ctx = result.context
            self.started = True
            self.complete = not result.more_steps
            self.granted_flags = int(result.flags)
            # The initiator's name comes from inquire_context once complete: in the middle of a
            # DCE-style exchange MIT answers an empty name that display_name refuses.
            out_token = result.token or b""

        reply: typing.Dict[str, typing.Any] = {"ok": True, "complete": self.complete}
        if self.complete:
            reply.update(self.describe())
        return reply, out_token

    def describe(self) -> typing.Dict[str, typing.Any]:
        info: typing.Dict[str, typing.Any] = {}
        ctx = self.context()
        inquired = gss.inquire_context(ctx)
        info["mech"] = mech_name(inquired.mech)
        info["flags"] = flag_names(inquired.flags)
        info["locallyInitiated"] = bool(inquired.locally_init)
        if inquired.initiator_name is not None:
            info["initiatorName"] = gss.display_name(inquired.initiator_name).name.decode("utf-8")
        if inquired.target_name is not None:
            info["targetName"] = gss.display_name(inquired.target_name).name.decode("utf-8")
        key = self.session_key()
        if key is not None:
            info["enctype"] = key[1]
        return info

    def op_info(self, _request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        reply: typing.Dict[str, typing.Any] = {"ok": True, "complete": self.complete}
        if self.complete:
            reply.update(self.describe())
        return reply, b""

    def session_key(self) -> typing.Optional[typing.Tuple[bytes, int]]:
        if not self.complete:
            return None
        try:
            values = gss.inquire_sec_context_by_oid(self.context(), SESSION_KEY_OID)
        except gss.GSSError:
            return None
        if len(values) < 2:
            return None
        oid = gss.OID(elements=values[1]).dotted_form
        enctype = int(oid[len(ENCTYPE_OID_PREFIX) :]) if oid.startswith(ENCTYPE_OID_PREFIX) else -1
        return values[0], enctype

    def op_sessionKey(self, _request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        key = self.session_key()
        if key is None:
            return {"ok": True}, b""
        return {"ok": True, "enctype": key[1]}, key[0]

    def wrap_winrm(self, plaintext: bytes) -> typing.Tuple[dict, bytes]:
        iov = IOV(
            (IOVBufferType.header, True, None),
            (IOVBufferType.data, False, plaintext),
            (IOVBufferType.padding, True, None),
            std_layout=False,
        )
        encrypted = gss.wrap_iov(self.established(), iov, confidential=True)
        if not encrypted:
            raise RuntimeError("gss_wrap_iov did not encrypt")
        header = iov[0].value or b""
        data = iov[1].value or b""
        padding = iov[2].value or b""
        reply = {
            "ok": True,
            "sha256": hashlib.sha256(plaintext).hexdigest(),
            "headerLength": len(header),
            "paddingLength": len(padding),
        }
        return reply, header + data + padding

    def op_wrapWinrm(self, request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        return self.wrap_winrm(os.urandom(bounded_int(request, "size", 0, MAX_WRAP_SIZE)))

    def op_wrapWinrmData(self, _request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        return self.wrap_winrm(body)

    def unwrap_winrm(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[bytes, str]:
        ctx = self.established()
        length = bounded_int(request, "headerLength", 0, len(body))
        header, blob = body[:length], body[length:]
        method = request.get("method", "auto")
        if method not in UNWRAP_METHODS:
            raise ValueError("method must be one of %s" % ", ".join(UNWRAP_METHODS))
        if method == "auto":
            cfx = header[:2] == b"\x05\x04"
            method = "iov" if cfx or self.granted_flags & int(Flag.dce_style) else "unwrap"

        if method == "unwrap":
            return gss.unwrap(ctx, header + blob).message, method
        if method == "iov":
            iov = IOV(
                (IOVBufferType.header, False, header),
                (IOVBufferType.data, False, blob),
                std_layout=False,
            )
        else:
            pad = bounded_int(request, "paddingLength", 0, len(blob))
            iov = IOV(
                (IOVBufferType.header, False, header),
                (IOVBufferType.data, False, blob[: len(blob) - pad]),
                (IOVBufferType.padding, False, blob[len(blob) - pad :]),
                std_layout=False,
            )
        gss.unwrap_iov(ctx, iov)
        return iov[1].value or b"", method

    def op_unwrapWinrm(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        plaintext, method = self.unwrap_winrm(request, body)
        return {"ok": True, "sha256": hashlib.sha256(plaintext).hexdigest(), "method": method}, b""

    def op_unwrapWinrmData(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        plaintext, method = self.unwrap_winrm(request, body)
        return {"ok": True, "method": method}, plaintext

    def op_wrap(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        conf = request.get("conf", True)
        if not isinstance(conf, bool):
            raise ValueError("conf must be a boolean")
        result = gss.wrap(self.established(), body, confidential=conf)
        return {"ok": True, "encrypted": bool(result.encrypted)}, result.message

    def op_unwrap(self, _request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        result = gss.unwrap(self.established(), body)
        return {"ok": True, "encrypted": bool(result.encrypted), "qop": result.qop}, result.message

    def op_getMic(self, _request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        return {"ok": True}, gss.get_mic(self.established(), body)

    def op_verifyMic(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        length = bounded_int(request, "micLength", 0, len(body))
        qop = gss.verify_mic(self.established(), body[length:], body[:length])
        return {"ok": True, "qop": qop}, b""


def main() -> int:
    return serve("gssapi_peer", Peer, error_reply)


if __name__ == "__main__":
    sys.exit(main())
