"""``trading dev``'s side of the processes it talks to.

The zygote (see :mod:`trading_cli.dev.zygote`) runs in a process group of its
own, reached over one channel; each server it starts hands back a control
channel of its own with its ``Serving`` report, so ``Swap`` orders for it skip
the zygote and the spawner, which may be busy forking a build.
"""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from trading_cli.dev import channel

QUIT_SECONDS = 8.0
"""How long the zygote may take to stop its servers before it is killed."""


class ZygoteLink:
    """The zygote process, its channel, and each server's control channel."""

    def __init__(self, root: Path, listener: socket.socket) -> None:
        self.root = root
        self.listener = listener
        self.channel: socket.socket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.controls: dict[int, socket.socket] = {}  # each server's own channel

    def spawn(self) -> None:
        """Start the zygote on the listening socket."""
        ours, theirs = channel.channel_pair()
        ours.setblocking(False)
        fds = (theirs.fileno(), self.listener.fileno())
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trading_cli.dev.zygote",
                str(self.root),
                *map(str, fds),
            ],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches only us, and we stop the
            # servers in order instead of every process dying at once.
            process_group=0,
        )
        theirs.close()
        self.channel = ours

    def send(self, message: channel.Message) -> None:
        """Send ``message`` to the zygote; a dead zygote is reported by its
        channel's end, not here."""
        if self.channel is None:
            return
        with contextlib.suppress(OSError):
            channel.send(self.channel, message)

    def order(self, server_id: int, message: channel.Message) -> bool:
        """Send ``message`` on the control channel of server ``server_id``;
        False if it has none (yet)."""
        control = self.controls.get(server_id)
        if control is None:
            return False
        with contextlib.suppress(OSError):  # it died: its Exited follows
            channel.send(control, message)
        return True

    async def read(
        self,
        dispatch: Callable[[channel.Message], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Hand every message of the zygote's channel to ``dispatch`` until the
        channel closes; a ``Serving`` report's control channel is kept."""
        assert self.channel is not None
        while True:
            data, attached = await receive(self.channel)
            if not data:
                return
            try:
                message = channel.decode(data)
                if isinstance(message, channel.Serving) and attached is not None:
                    self.controls[message.id] = attached  # its Swap orders go here
                    attached = None
                dispatch(message)
            except Exception as exc:  # keep the loop alive whatever a message holds
                on_error(exc)
            finally:
                if attached is not None:
                    attached.close()

    def close_control(self, server_id: int) -> None:
        """Forget the control channel of a server that exited."""
        control = self.controls.pop(server_id, None)
        if control is not None:
            control.close()

    async def quit(self) -> None:
        """Ask the zygote to stop its servers and exit; kill it if it takes
        longer than :data:`QUIT_SECONDS`."""
        zygote = self.process
        if zygote is None:
            return
        self.send(channel.Quit())
        deadline = time.monotonic() + QUIT_SECONDS
        while zygote.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if zygote.poll() is None:
            # It leads its own group and is not reaped: the group id is its own.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(zygote.pid, signal.SIGKILL)
            zygote.wait()
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        for server_id in list(self.controls):
            self.close_control(server_id)


async def receive(sock: socket.socket) -> tuple[bytes, socket.socket | None]:
    """The next record of ``sock`` and the socket attached to it, if any."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return channel.receive(sock)
        except BlockingIOError:
            readable = loop.create_future()
            loop.add_reader(sock.fileno(), readable.set_result, None)
            try:
                await readable
            finally:
                loop.remove_reader(sock.fileno())
