#!/usr/bin/env python3
"""Start a program with a listening socket the way systemd does.

    activate.py [--runs N] [--now] [--pidfile FILE] [--wrong-pid]
                [--not-listening] SOCKET PROGRAM [ARGS...]

Binds and listens on SOCKET (mode 0600), then, like a .socket unit with
Accept=no, waits until a client connects and only then starts PROGRAM:
fork, the socket dup'ed to fd 3, LISTEN_PID set to the child's own pid,
LISTEN_FDS=1, LISTEN_FDNAMES=p11agent.socket, exec.  When PROGRAM exits,
the socket stays open here and the next connection starts it again, up to
N runs (default 1); --now starts the first run at once.  Each child's pid is appended to FILE.  Exits with the
last run's exit status.

--wrong-pid sets LISTEN_PID to this launcher's pid (the program must
ignore the socket); --not-listening passes a bound socket that does not
listen, and starts PROGRAM at once.
"""

import argparse
import os
import select
import socket
import sys


def start(sock, args):
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(sock.fileno(), 3)
            # dup2 onto itself (the socket already was fd 3) keeps
            # close-on-exec, which Python sets on every socket
            os.set_inheritable(3, True)
            listen_pid = os.getppid() if args.wrong_pid else os.getpid()
            os.environ["LISTEN_PID"] = str(listen_pid)
            os.environ["LISTEN_FDS"] = "1"
            os.environ["LISTEN_FDNAMES"] = "p11agent.socket"
            os.execv(args.program[0], args.program)
        finally:
            os._exit(127)
    if args.pidfile:
        with open(args.pidfile, "a", encoding="ascii") as f:
            f.write(f"{pid}\n")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--now", action="store_true")
    p.add_argument("--pidfile")
    p.add_argument("--wrong-pid", action="store_true")
    p.add_argument("--not-listening", action="store_true")
    p.add_argument("socket")
    p.add_argument("program", nargs=argparse.REMAINDER)
    args = p.parse_args()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    sock.bind(args.socket)
    os.umask(old)
    if args.not_listening:
        sys.exit(start(sock, args))
    sock.listen(64)
    rc = 0
    for run in range(args.runs):
        # systemd starts the service when the socket becomes readable
        if run > 0 or not args.now:
            select.select([sock], [], [])
        rc = start(sock, args)
    sys.exit(rc)


if __name__ == "__main__":
    main()
