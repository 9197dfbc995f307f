"""One command with pywinrm 0.5, the way a one-off script runs it: the peer of the CLI row of
bench/client.ts, timed from outside, process start to exit.

Usage (the password comes from the environment, never the command line):

    WINRM_PASSWORD=... python bench/pywinrm_once.py ENDPOINT USER

Runs `echo hello` with winrm.Session.run_cmd over NTLM with message encryption, as
bench/pywinrm_bench.py does, prints its stdout and exits with its status code.
"""

from __future__ import annotations

import os
import sys

import winrm


def main(argv: list[str]) -> int:
    password = os.environ.get("WINRM_PASSWORD")
    if len(argv) != 2 or password is None:
        print("usage: WINRM_PASSWORD=... pywinrm_once.py ENDPOINT USER", file=sys.stderr)
        return 2
    endpoint, user = argv
    session = winrm.Session(
        endpoint,
        auth=(user, password),
        transport="ntlm",
        message_encryption="always",
    )
    result = session.run_cmd("echo", ["hello"])
    sys.stdout.write(result.std_out.decode("utf-8"))
    sys.stderr.write(result.std_err.decode("utf-8"))
    return result.status_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
