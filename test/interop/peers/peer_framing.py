"""The framed stdin/stdout protocol of the long-running peers (gssapi_peer.py, pyspnego_peer.py).

    frame = u32be H | H bytes of UTF-8 JSON header | u32be B | B bytes of binary body

Each request frame gets exactly one response frame, in order. A request's header names its
operation in "op", which serve() hands to the peer's method op_<op>(request, body); a response
header carries "ok". A failed operation answers
{"ok": false, "error": <exception class name>, "message": str(exception)}, plus whatever the
peer's own error_reply adds, and the process keeps serving. End of input at a frame boundary ends
the process with status 0; a frame cut short or too large, with status 2. The Node side is
test/interop/peers/framed-peer.ts.

Standard library only: gssapi_peer.py imports this under Debian's /usr/bin/python3 -I and
pyspnego_peer.py under the venv's interpreter. -I leaves the script's folder off sys.path, so
both scripts put it there themselves before importing this module.
"""

from __future__ import annotations

import json
import struct
import sys
import typing

# Generous bounds: a frame past them is a framing bug on the Node side, not a real message.
MAX_HEADER = 1 << 20
MAX_BODY = 256 << 20

Request = typing.Dict[str, typing.Any]
Reply = typing.Tuple[typing.Dict[str, typing.Any], bytes]


class PeerProtocolError(Exception):
    """A request that does not follow the framed protocol described above."""


class EndOfInput(Exception):
    """stdin closed at a frame boundary: the normal way to stop the peer."""


def read_exactly(stream: typing.BinaryIO, size: int, at_boundary: bool) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            if at_boundary and remaining == size:
                raise EndOfInput()
            raise PeerProtocolError(
                "stdin closed in the middle of a frame (%d of %d bytes read)" % (size - remaining, size)
            )
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: typing.BinaryIO) -> typing.Tuple[bytes, bytes]:
    (header_len,) = struct.unpack(">I", read_exactly(stream, 4, at_boundary=True))
    if header_len > MAX_HEADER:
        raise PeerProtocolError("header length %d exceeds %d" % (header_len, MAX_HEADER))
    header = read_exactly(stream, header_len, at_boundary=False)
    (body_len,) = struct.unpack(">I", read_exactly(stream, 4, at_boundary=False))
    if body_len > MAX_BODY:
        raise PeerProtocolError("body length %d exceeds %d" % (body_len, MAX_BODY))
    body = read_exactly(stream, body_len, at_boundary=False)
    return header, body


def write_frame(stream: typing.BinaryIO, header: typing.Dict[str, typing.Any], body: bytes = b"") -> None:
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    stream.write(struct.pack(">I", len(encoded)) + encoded + struct.pack(">I", len(body)))
    if body:
        stream.write(body)
    stream.flush()


def optional_str(request: Request, key: str) -> typing.Optional[str]:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("%s must be a string" % key)
    return value


def exception_reply(error: Exception) -> typing.Dict[str, typing.Any]:
    return {"ok": False, "error": type(error).__name__, "message": str(error)}


def dispatch(peer: object, raw_header: bytes, body: bytes) -> Reply:
    """Parses a request header and calls the peer's op_<op>(request, body)."""
    request = json.loads(raw_header.decode("utf-8"))
    if not isinstance(request, dict):
        raise PeerProtocolError("the frame header must be a JSON object")
    op = request.get("op")
    handler = getattr(peer, "op_%s" % op, None) if isinstance(op, str) and op.isidentifier() else None
    if handler is None:
        raise PeerProtocolError("unknown op %r" % (op,))
    return handler(request, body)


def serve(
    name: str,
    make_peer: typing.Callable[[], object],
    error_reply: typing.Callable[[Exception], typing.Dict[str, typing.Any]] = exception_reply,
) -> int:
    """Answers request frames on stdin until end of input; returns the exit status."""
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    # Anything printed by accident (a library, a debugging print) must not corrupt the frames.
    sys.stdout = sys.stderr

    peer = make_peer()
    while True:
        try:
            raw_header, body = read_frame(stdin)
        except EndOfInput:
            return 0
        except PeerProtocolError as e:
            # The frame boundary is lost: report and stop rather than answer garbage.
            print("%s: %s" % (name, e), file=sys.stderr)
            return 2

        try:
            reply, reply_body = dispatch(peer, raw_header, body)
        except Exception as e:  # every failure goes back to the caller as a reply
            reply, reply_body = error_reply(e), b""

        try:
            write_frame(stdout, reply, reply_body)
        except BrokenPipeError:
            return 0
