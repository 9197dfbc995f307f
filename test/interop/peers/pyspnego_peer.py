"""pyspnego as a long-running NTLM/SPNEGO peer for the Node interop tests.

One security context per process, driven over stdin/stdout with the length-prefixed frames of
peer_framing.py:

    frame = u32be H | H bytes of UTF-8 JSON header | u32be B | B bytes of binary body

Each request frame gets exactly one response frame, in order. A request's header names its
operation in "op"; a response header carries "ok". A failed operation answers
{"ok": false, "error": <exception class name>, "message": str(exception)} and the process keeps
serving. End of input at a frame boundary ends the process with status 0.

Operations (request header -> response header, body):

    init        {role: "initiate"|"accept", protocol: "ntlm"|"negotiate", username?, password?,
                 ntHash?, hostname?, service? ("HTTP"), channelBindings? (base64 application data)}
                -> {ok}
    step        body = input token (empty: none) -> {ok, complete, negotiatedProtocol?,
                 clientPrincipal?}, body = output token (empty: none)
    wrap        {size} -> {ok, sha256, headerLength, paddingLength}, body = header || data
                 (the peer wraps `size` random bytes of its own)
    wrapData    body = plaintext -> {ok, headerLength, paddingLength}, body = header || data
    unwrap      {headerLength} body = header || data -> {ok, sha256}, empty body
    unwrapData  {headerLength} body = header || data -> {ok}, body = plaintext
    sessionKey  -> {ok}, body = session key (empty before the context is complete)

The acceptor checks initiators against the file named by the environment variable
NTLM_USER_FILE, which pyspnego reads itself (spnego._ntlm._get_credential). Each line is
DOMAIN:USER:PASSWORD (split on every colon, so a password must not contain one) or an smbpasswd
line USER:UID:LM_HASH:NT_HASH:FLAGS:LCT. The acceptor looks up the AUTHENTICATE message's
(DomainName, UserName) pair, case-insensitively and exactly: "DOM\\alice" matches DOM:alice:pw,
a UPN "alice@dom.example" travels with an empty domain and matches :alice@dom.example:pw, and
a bare "alice" matches only :alice:pw (never DOM:alice:pw).

Only pyspnego's own Python implementations are used: NegotiateOptions.use_ntlm or use_negotiate
selects them over SSPI/GSSAPI, and wrapping_winrm keeps SPNEGO from offering Kerberos unless a
GSSAPI with IOV support is importable, which init refuses outright.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sys
import typing

import spnego
from spnego._negotiate import NegotiateProxy
from spnego.channel_bindings import GssChannelBindings

# peer_framing.py sits beside this script. The venv's interpreter puts the script's folder on
# sys.path, but a -I or -P run would not, so it goes there before the import all the
# same; and no __pycache__ goes beside the sources, which the repository does not ignore.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_framing import PeerProtocolError, optional_str, serve  # noqa: E402

MAX_WRAP_SIZE = 64 << 20

PROTOCOL_OPTIONS = {
    "ntlm": spnego.NegotiateOptions.use_ntlm,
    "negotiate": spnego.NegotiateOptions.use_negotiate | spnego.NegotiateOptions.wrapping_winrm,
}


def header_length(request: typing.Dict[str, typing.Any], body: bytes) -> int:
    length = request.get("headerLength")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0 or length > len(body):
        raise ValueError("headerLength must be an integer between 0 and the body length %d" % len(body))
    return length


class Peer:
    def __init__(self) -> None:
        self.ctx: typing.Optional[spnego.ContextProxy] = None

    def context(self) -> spnego.ContextProxy:
        if self.ctx is None:
            raise PeerProtocolError("no security context: send init first")
        return self.ctx

    def op_init(self, request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        role = request.get("role")
        protocol = request.get("protocol")
        if role not in ("initiate", "accept"):
            raise ValueError("role must be 'initiate' or 'accept', got %r" % (role,))
        if protocol not in PROTOCOL_OPTIONS:
            raise ValueError("protocol must be 'ntlm' or 'negotiate', got %r" % (protocol,))
        options = PROTOCOL_OPTIONS[protocol]
        if protocol == "negotiate" and "kerberos" in NegotiateProxy.available_protocols(options):
            # Only happens when python-gssapi with IOV support is importable: SPNEGO would then
            # offer Kerberos first and the test would no longer be about NTLM.
            raise RuntimeError("pyspnego would offer Kerberos through GSSAPI; use a venv without python-gssapi")

        hostname = optional_str(request, "hostname") or "unspecified"
        service = optional_str(request, "service") or "HTTP"

        bindings: typing.Optional[GssChannelBindings] = None
        encoded_bindings = optional_str(request, "channelBindings")
        if encoded_bindings is not None:
            bindings = GssChannelBindings(application_data=base64.b64decode(encoded_bindings, validate=True))

        self.ctx = None
        if role == "accept":
            # The acceptor takes no credential: it looks up DOMAIN\user from the AUTHENTICATE
            # message in the NTLM_USER_FILE store, and fails at once if that variable is unset.
            self.ctx = spnego.server(
                hostname=hostname,
                service=service,
                channel_bindings=bindings,
                protocol=protocol,
                options=options,
            )
            return {"ok": True}, b""

        username = optional_str(request, "username")
        password = optional_str(request, "password")
        nt_hash = optional_str(request, "ntHash")
        credential: typing.Union[None, str, spnego.Credential]
        if password is not None and nt_hash is not None:
            raise ValueError("give password or ntHash, not both")
        if (password is not None or nt_hash is not None) and not username:
            raise ValueError("a password or ntHash needs a username")
        if nt_hash is not None:
            # pyspnego takes an NT hash in two ways: spnego.NTLMHash(username, lm_hash, nt_hash)
            # with hex strings (a missing LM hash becomes 16 zero bytes, unused by NTLMv2), or a
            # plain password string of the form "<32 hex LM>:<32 hex NT>", which unify_credentials
            # silently treats as hashes (spnego._ntlm_raw.crypto.is_ntlm_hash). The explicit
            # NTLMHash credential is used here, and passwords go in as spnego.Password so that a
            # password that happens to look like "LM:NT" stays a password.
            try:
                raw_hash = binascii.unhexlify(nt_hash)
            except binascii.Error as e:
                raise ValueError("ntHash must be hex: %s" % e) from None
            if len(raw_hash) != 16:
                raise ValueError("ntHash must be 16 bytes (32 hex digits), got %d bytes" % len(raw_hash))
            credential = spnego.NTLMHash(username=typing.cast(str, username), nt_hash=nt_hash.upper())
        elif password is not None:
            credential = spnego.Password(username=typing.cast(str, username), password=password)
        else:
            # A bare username (or none) reads the NT hash from NTLM_USER_FILE, as the acceptor does.
            credential = username

        self.ctx = spnego.client(
            credential,
            hostname=hostname,
            service=service,
            channel_bindings=bindings,
            protocol=protocol,
            options=options,
        )
        return {"ok": True}, b""

    def op_step(self, _request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        ctx = self.context()
        out_token = ctx.step(body or None)
        reply: typing.Dict[str, typing.Any] = {"ok": True, "complete": bool(ctx.complete)}
        if ctx.complete:
            reply["negotiatedProtocol"] = ctx.negotiated_protocol
            reply["clientPrincipal"] = ctx.client_principal
        return reply, out_token or b""

    def op_wrap(self, request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        size = request.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > MAX_WRAP_SIZE:
            raise ValueError("size must be an integer between 0 and %d" % MAX_WRAP_SIZE)
        plaintext = os.urandom(size)
        result = self.context().wrap_winrm(plaintext)
        reply = {
            "ok": True,
            "sha256": hashlib.sha256(plaintext).hexdigest(),
            "headerLength": len(result.header),
            "paddingLength": result.padding_length,
        }
        return reply, result.header + result.data

    def op_wrapData(self, _request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        result = self.context().wrap_winrm(body)
        reply = {"ok": True, "headerLength": len(result.header), "paddingLength": result.padding_length}
        return reply, result.header + result.data

    def unwrap_body(self, request: typing.Dict[str, typing.Any], body: bytes) -> bytes:
        length = header_length(request, body)
        return self.context().unwrap_winrm(body[:length], body[length:])

    def op_unwrap(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        plaintext = self.unwrap_body(request, body)
        return {"ok": True, "sha256": hashlib.sha256(plaintext).hexdigest()}, b""

    def op_unwrapData(self, request: typing.Dict[str, typing.Any], body: bytes) -> typing.Tuple[dict, bytes]:
        return {"ok": True}, self.unwrap_body(request, body)

    def op_sessionKey(self, _request: typing.Dict[str, typing.Any], _body: bytes) -> typing.Tuple[dict, bytes]:
        ctx = self.context()
        return {"ok": True}, (ctx.session_key or b"") if ctx.complete else b""


def main() -> int:
    return serve("pyspnego_peer", Peer)


if __name__ == "__main__":
    sys.exit(main())
