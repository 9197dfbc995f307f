"""pywinrm 0.5 as the peer of bench/client.ts: timings taken on request, so that the Node side
can interleave them with its own and both see the same machine load.

Usage (the password comes from the environment, never the command line):

    WINRM_PASSWORD=... python bench/pywinrm_bench.py ENDPOINT USER

Reads one request per line on stdin and answers each with one JSON line on stdout,
{"seconds": S} or {"error": "..."}; ends at end of input or on "quit".

sequential N  On one Protocol kept for the whole process (one requests session, so one
              authenticated keep-alive connection), times N commands, each run the way
              winrm.Session.run_cmd runs one: open_shell, run_command, get_command_output,
              cleanup_command, close_shell.
cold          Times, on a new Protocol (a new TCP connection and a new NTLM handshake),
              open_shell + run_command + get_command_output of one command: connect,
              authenticate, first output. The shell is then cleaned up and the session
              closed outside the timing.

Every Protocol uses transport="ntlm" and message_encryption="always", pywinrm's public API.
"""

from __future__ import annotations

import json
import os
import sys
import time

import winrm

COMMAND = "echo"
ARGS = ["hello"]
EXPECTED = b"hello"


def protocol(endpoint: str, user: str, password: str) -> winrm.protocol.Protocol:
    return winrm.protocol.Protocol(
        endpoint=endpoint,
        transport="ntlm",
        username=user,
        password=password,
        message_encryption="always",
        operation_timeout_sec=20,
        read_timeout_sec=30,
    )


def check(stdout: bytes, code: int) -> None:
    if code != 0 or stdout.strip() != EXPECTED:
        raise RuntimeError(f"unexpected result: exit {code}, stdout {stdout!r}")


def one_command(p: winrm.protocol.Protocol) -> None:
    """One command as winrm.Session.run_cmd runs it: in a shell of its own."""
    shell = p.open_shell()
    command = p.run_command(shell, COMMAND, ARGS)
    stdout, _stderr, code = p.get_command_output(shell, command)
    p.cleanup_command(shell, command)
    p.close_shell(shell)
    check(stdout, code)


def cold(endpoint: str, user: str, password: str) -> float:
    start = time.perf_counter()
    p = protocol(endpoint, user, password)
    shell = p.open_shell()
    command = p.run_command(shell, COMMAND, ARGS)
    stdout, _stderr, code = p.get_command_output(shell, command)
    elapsed = time.perf_counter() - start
    check(stdout, code)
    p.cleanup_command(shell, command)
    p.close_shell(shell)
    p.transport.close_session()
    return elapsed


def main(argv: list[str]) -> None:
    password = os.environ.get("WINRM_PASSWORD")
    if len(argv) != 2 or password is None:
        sys.exit(__doc__)
    endpoint, user = argv
    warm = protocol(endpoint, user, password)
    for line in sys.stdin:
        words = line.split()
        try:
            if words == ["quit"]:
                break
            if len(words) == 2 and words[0] == "sequential":
                count = int(words[1])
                start = time.perf_counter()
                for _ in range(count):
                    one_command(warm)
                answer: dict = {"seconds": time.perf_counter() - start}
            elif words == ["cold"]:
                answer = {"seconds": cold(endpoint, user, password)}
            else:
                answer = {"error": f"unknown request {line.strip()!r}"}
        except Exception as error:  # reported to the Node side, which stops the bench
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)
    warm.transport.close_session()


if __name__ == "__main__":
    main(sys.argv[1:])
