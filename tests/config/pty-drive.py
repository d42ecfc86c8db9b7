#!/usr/bin/env python3
"""Run a program on a new pseudo-terminal and type a PIN into the
full-screen dialog it shows, as a user at a terminal would.

    pty-drive.py PIDFILE SCREENLOG PROGRAM [ARGS...]

PIN comes from the environment (DRIVE_PIN) and is typed, followed by
Enter, once the screen shows WAIT_FOR (default "Cancel": pinentry-curses'
button).  The program's pid goes to PIDFILE at once; everything it draws
goes to SCREENLOG.  Exits with the program's exit status, after draining
the terminal until it exits.
"""

import os
import pty
import select
import sys


def main():
    pidfile, screenlog, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    pin = os.environ.pop("DRIVE_PIN").encode()
    wait_for = os.environ.get("WAIT_FOR", "Cancel").encode()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    with open(pidfile, "w", encoding="ascii") as f:
        f.write(f"{pid}\n")
    seen, typed = b"", False
    with open(screenlog, "wb") as log:
        while True:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # EIO: the program closed the terminal
                    break
                if not data:
                    break
                log.write(data)
                log.flush()
                seen = (seen + data)[-8192:]
            if not typed and wait_for in seen:
                os.write(fd, pin + b"\r")
                typed = True
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
