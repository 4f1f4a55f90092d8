"""A learner's shell or command for the emulator's SSH gateway (src/emulator/ssh/shell.ts).

Node has no pseudo-terminal of its own, so this helper makes one. It takes one argument, a JSON
object: {"home", "user", "term", "rows", "cols"} and "command" for an exec request.

- With "command": runs `bash -c command` in the home, on the caller's pipes (no pty).
- Without: forks `bash -i` on a new pty, relays bytes between its own stdin/stdout and the pty,
  and applies window sizes read as JSON lines ({"cols": 120, "rows": 40}) on fd 3. Exits with
  the shell's status.

The learner's environment is built here from scratch: the emulator's own (tokens, passwords)
never reaches a learner's shell.
"""

import errno
import fcntl
import json
import os
import pty
import select
import signal
import struct
import sys
import termios

RESIZE_FD = 3


def learner_environment(spec):
    return {
        "HOME": spec["home"],
        "USER": spec["user"],
        "LOGNAME": spec["user"],
        "SHELL": "/bin/bash",
        "TERM": spec["term"],
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PS1": "learner@lab:\\w$ ",
    }


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def write_all(fd, data):
    while data:
        written = os.write(fd, data)
        data = data[written:]


def run_pty(spec, env):
    pid, master = pty.fork()
    if pid == 0:
        set_size(0, spec["rows"], spec["cols"])
        os.chdir(spec["home"])
        os.execvpe("bash", ["bash", "--noprofile", "--norc", "-i"], env)

    def hang_up(_signum, _frame):
        # As a terminal closing: the shell gets SIGHUP (and passes it to its jobs).
        try:
            os.close(master)
        except OSError:
            pass
        try:
            os.killpg(pid, signal.SIGHUP)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, hang_up)
    signal.signal(signal.SIGHUP, hang_up)

    readers = [0, master]
    try:
        os.fstat(RESIZE_FD)
        readers.append(RESIZE_FD)
    except OSError:
        pass
    pending = b""
    while master in readers:
        try:
            ready, _, _ = select.select(readers, [], [])
        except (OSError, ValueError):
            break
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError as error:
                if error.errno not in (errno.EIO, errno.EBADF):
                    raise
                data = b""
            if not data:
                break
            write_all(1, data)
        if 0 in ready:
            data = os.read(0, 65536)
            if data:
                write_all(master, data)
            else:
                readers.remove(0)
        if RESIZE_FD in ready:
            data = os.read(RESIZE_FD, 4096)
            if not data:
                readers.remove(RESIZE_FD)
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    size = json.loads(line)
                    # The kernel sends SIGWINCH to the pty's foreground process group.
                    set_size(master, int(size["rows"]), int(size["cols"]))
                except (ValueError, KeyError, TypeError, OSError):
                    pass
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main():
    spec = json.loads(sys.argv[1])
    env = learner_environment(spec)
    if "command" in spec:
        # As sshd runs a command without a pty: no terminal, so no TERM.
        del env["TERM"]
        os.chdir(spec["home"])
        os.execvpe("bash", ["bash", "-c", spec["command"]], env)
    code = run_pty(spec, env)
    # A shell killed by a signal: 128 + signal, as bash reports it.
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
