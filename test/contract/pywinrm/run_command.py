"""Runs one command against a WinRM listener with pywinrm, an independent WinRM client.

Reads one JSON request on stdin (so the password never shows in a process list):
  {"endpoint", "username", "password", "operation_timeout_sec"?, and one of
   "script" (Session.run_ps), "command" + "args" (Session.run_cmd, through cmd.exe), or
   "command" + "args" + "skip_cmd_shell": true (the low-level Protocol API, process started directly)}
and prints one JSON object: {"status_code", "std_out", "std_err"} when the command ran, or
{"error": <pywinrm exception class>, "message", "wsmanfault_code"?, "http_status"?} when pywinrm raised.
Exit code 0 either way; 3 when pywinrm is not installed.
"""
import json
import re
import sys

try:
    import winrm
    from winrm.exceptions import WinRMTransportError
except ImportError:
    sys.stderr.write("pywinrm is not installed: apt-get install -y python3-winrm\n")
    sys.exit(3)


def session_for(req):
    timeout = int(req.get("operation_timeout_sec", 20))
    session = winrm.Session(
        req["endpoint"],
        auth=(req["username"], req["password"]),
        transport="basic",
        server_cert_validation="ignore",
        operation_timeout_sec=timeout,
        read_timeout_sec=timeout + 10,
    )
    # pywinrm 0.3.0 (Debian 12) hands the bytes of stderr to _clean_error_msg, which compares them
    # with a str and raises TypeError; 0.4 fixed it. Feed that version text so its CLIXML parser runs.
    clean = session._clean_error_msg
    try:
        clean(b"")
    except TypeError:
        session._clean_error_msg = lambda msg: clean(msg.decode("utf-8")).encode("utf-8")
    return session


def run_direct(session, command, args):
    """The documented low-level flow, with WINRS_SKIP_CMD_SHELL so no cmd.exe sits in between."""
    protocol = session.protocol
    shell_id = protocol.open_shell()
    try:
        command_id = protocol.run_command(shell_id, command, args, skip_cmd_shell=True)
        try:
            return winrm.Response(protocol.get_command_output(shell_id, command_id))
        finally:
            protocol.cleanup_command(shell_id, command_id)
    finally:
        protocol.close_shell(shell_id)


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def main():
    req = json.load(sys.stdin)
    session = session_for(req)
    try:
        if "script" in req:
            rs = session.run_ps(req["script"])
        elif req.get("skip_cmd_shell"):
            rs = run_direct(session, req["command"], req.get("args", []))
        else:
            rs = session.run_cmd(req["command"], req.get("args", []))
    except WinRMTransportError as err:
        out = {"error": type(err).__name__, "message": str(err), "http_status": err.code}
    except winrm.exceptions.WinRMError as err:
        out = {"error": type(err).__name__, "message": str(err)}
        code = re.search(r"'wsmanfault_code': '(\d+)'", str(err))
        if code:
            out["wsmanfault_code"] = code.group(1)
    else:
        out = {"status_code": rs.status_code, "std_out": text(rs.std_out), "std_err": text(rs.std_err)}
    json.dump(out, sys.stdout)


main()
