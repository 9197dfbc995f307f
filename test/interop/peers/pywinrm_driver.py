"""pywinrm as a client of the loopback WinRM host, for the Node interop tests.

Reads one JSON spec on stdin, runs its operations in order with ONE winrm.protocol.Protocol
(so one requests session and, while the server keeps it alive, one TCP connection and one
NTLM security context), and prints one JSON object on stdout: {"results": [...]}, one result
per operation. An operation that raises is reported as {"ok": false, "error": <class name>,
"message": ..., fault fields when a WSManFaultError} and the next operation still runs.

Spec:
    endpoint, user, password          where and who
    transport                         "ntlm" (default), "basic", "plaintext", "ssl"
    message_encryption                "always" (default), "auto", "never"
    ca_trust_path                     PEM file of the CA to trust (HTTPS); default: validate
                                      against the system store
    send_cbt                          channel binding over HTTPS (default true)
    operation_timeout_sec, read_timeout_sec
    ops: list of
      {"op": "run", "command", "args"?: [..], "stdin_b64"?: base64, "codepage"?: int,
       "env"?: {..}, "cwd"?: str, "skip_cmd_shell"?: bool}
          -> {ok, stdout_b64, stderr_b64, exit_code}
      {"op": "sink", "command", "codepage"?}   run, discard output as it arrives
          -> {ok, stdout_bytes, stderr_bytes, stdout_sha256, exit_code, receives,
              largest_response}
      {"op": "repeat", "count"}         count x (run "echo <i>" in one shell) -> {ok, requests}
      {"op": "raw", "xml"}              send an envelope as is -> {ok, response}

Only pywinrm's public Protocol API is used (open_shell, run_command, send_command_input,
get_command_output, get_command_output_raw, cleanup_command, close_shell, send_message),
since pywinrm's Session.run_cmd cannot send stdin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import traceback
import typing

import winrm
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError, WinRMTransportError


def protocol_for(spec: dict) -> winrm.protocol.Protocol:
    kwargs: dict[str, typing.Any] = {
        "endpoint": spec["endpoint"],
        "transport": spec.get("transport", "ntlm"),
        "username": spec["user"],
        "password": spec["password"],
        "message_encryption": spec.get("message_encryption", "always"),
        "send_cbt": spec.get("send_cbt", True),
        "operation_timeout_sec": spec.get("operation_timeout_sec", 20),
        "read_timeout_sec": spec.get("read_timeout_sec", 30),
    }
    if spec.get("ca_trust_path"):
        kwargs["ca_trust_path"] = spec["ca_trust_path"]
        kwargs["server_cert_validation"] = "validate"
    return winrm.protocol.Protocol(**kwargs)


def op_run(p: winrm.protocol.Protocol, op: dict) -> dict:
    shell = p.open_shell(
        codepage=op.get("codepage", 65001),
        env_vars=op.get("env"),
        working_directory=op.get("cwd"),
    )
    try:
        command = p.run_command(
            shell, op["command"], op.get("args", []), skip_cmd_shell=op.get("skip_cmd_shell", False)
        )
        if "stdin_b64" in op:
            data = base64.b64decode(op["stdin_b64"])
            # In pieces, as a client streaming a file would, the last one with End="true".
            piece = 64 * 1024
            chunks = [data[i : i + piece] for i in range(0, len(data), piece)] or [b""]
            for index, chunk in enumerate(chunks):
                p.send_command_input(shell, command, chunk, end=index == len(chunks) - 1)
        stdout, stderr, exit_code = p.get_command_output(shell, command)
        p.cleanup_command(shell, command)
    finally:
        p.close_shell(shell, close_session=False)
    return {
        "ok": True,
        "stdout_b64": base64.b64encode(stdout).decode(),
        "stderr_b64": base64.b64encode(stderr).decode(),
        "exit_code": exit_code,
    }


def op_sink(p: winrm.protocol.Protocol, op: dict) -> dict:
    largest = 0
    original = p.send_message

    def measuring(message: str) -> bytes:
        nonlocal largest
        response = original(message)
        largest = max(largest, len(response))
        return response

    p.send_message = measuring  # type: ignore[method-assign]
    try:
        shell = p.open_shell(codepage=op.get("codepage", 65001))
        command = p.run_command(shell, op["command"], op.get("args", []))
        digest = hashlib.sha256()
        stdout_bytes = stderr_bytes = receives = 0
        exit_code = -1
        done = False
        while not done:
            try:
                stdout, stderr, exit_code, done = p.get_command_output_raw(shell, command)
            except WinRMOperationTimeoutError:
                continue
            receives += 1
            digest.update(stdout)
            stdout_bytes += len(stdout)
            stderr_bytes += len(stderr)
        p.cleanup_command(shell, command)
        p.close_shell(shell, close_session=False)
    finally:
        p.send_message = original  # type: ignore[method-assign]
    return {
        "ok": True,
        "stdout_bytes": stdout_bytes,
        "stderr_bytes": stderr_bytes,
        "stdout_sha256": digest.hexdigest(),
        "exit_code": exit_code,
        "receives": receives,
        "largest_response": largest,
    }


def op_repeat(p: winrm.protocol.Protocol, op: dict) -> dict:
    requests = 0
    original = p.send_message

    def counting(message: str) -> bytes:
        nonlocal requests
        requests += 1
        return original(message)

    p.send_message = counting  # type: ignore[method-assign]
    try:
        shell = p.open_shell(codepage=65001)
        for index in range(op["count"]):
            command = p.run_command(shell, "echo", [f"message-{index}"])
            stdout, stderr, exit_code = p.get_command_output(shell, command)
            p.cleanup_command(shell, command)
            if stdout != f"message-{index}\n".encode() or exit_code != 0:
                raise AssertionError(f"request {index}: stdout {stdout!r}, exit code {exit_code}")
        p.close_shell(shell, close_session=False)
    finally:
        p.send_message = original  # type: ignore[method-assign]
    return {"ok": True, "requests": requests}


def op_raw(p: winrm.protocol.Protocol, op: dict) -> dict:
    response = p.send_message(op["xml"])
    return {"ok": True, "response": response.decode("utf-8")}


OPERATIONS = {"run": op_run, "sink": op_sink, "repeat": op_repeat, "raw": op_raw}


def describe(error: BaseException) -> dict:
    result: dict[str, typing.Any] = {
        "ok": False,
        "error": type(error).__name__,
        "message": str(error),
    }
    if isinstance(error, WSManFaultError):
        result.update(
            http_status=error.code,
            reason=error.reason,
            fault_code=error.fault_code,
            fault_subcode=error.fault_subcode,
            wsman_fault_code=error.wsman_fault_code,
        )
    elif isinstance(error, WinRMTransportError):
        result.update(http_status=error.code, response=error.response_text)
    if not isinstance(error, (WSManFaultError, WinRMTransportError)) and type(error).__module__.split(".")[0] not in (
        "winrm",
        "requests",
    ):
        result["traceback"] = traceback.format_exc()
    return result


def main() -> int:
    spec = json.load(sys.stdin)
    results = []
    try:
        p = protocol_for(spec)
    except Exception as error:  # noqa: BLE001 - reported to the test, which decides
        print(json.dumps({"results": [describe(error)]}))
        return 0
    for op in spec["ops"]:
        try:
            results.append(OPERATIONS[op["op"]](p, op))
        except Exception as error:  # noqa: BLE001 - reported to the test, which decides
            results.append(describe(error))
    p.transport.close_session()
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
