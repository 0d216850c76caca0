"""The gunicorn worker the web app runs in: threaded (gthread), with a timeout on every client read.

gunicorn's threaded worker waits in its poller, holding no thread, for a connection's first bytes
(5 s at most, then again up to the keep-alive time) and between kept-alive requests. But once a
request has begun, its thread reads the rest of the headers, and the application reads the body,
from a blocking socket with no timeout: 40 connections that send half a request line and headers,
or 16 that announce a body and send none, held all 2 × 8 threads, and /sign-in stopped answering.

`ReadTimeoutWorker` sets a timeout on every read from a client's socket
(INTAKE_WEB_READ_TIMEOUT_SECONDS, 15 s by default): a read that gets no byte for that long ends the
request and frees the thread. It bounds each read, not the request: a client that keeps sending,
however slowly (a phone on a 2G link), is never cut off. A stall in the headers closes the
connection without an answer; a stall in the body while the application reads it raises
`ClientReadTimeout`, which the app answers with 408 (see web/errors.py), and the connection is
closed after it. Nothing of the request is logged either way. A connection that is not kept is
closed in its request's thread, not in the worker's main loop (see `ReadTimeoutWorker.handle`).

HTTP/1, over plain TCP (TLS ending at a proxy in front) or over gunicorn's own TLS (`intake serve
--tls`): the TLS handshake, which gunicorn makes in the request's thread on a blocking socket, waits
at most the read timeout per read as well (`_TimedSocket`). gunicorn's HTTP/2 is not covered.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from gunicorn.http.errors import NoMoreData
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

READ_TIMEOUT_VARIABLE = "INTAKE_WEB_READ_TIMEOUT_SECONDS"
DEFAULT_READ_TIMEOUT_SECONDS = 15.0


class ClientReadTimeout(NoMoreData, TimeoutError):
    """The client sent no byte for the read timeout in the middle of its request.

    A `NoMoreData` (gunicorn closes the connection without an answer or a logged traceback when
    it meets one while reading headers) and a `TimeoutError` (gunicorn's drain of an unread body
    treats it as the timeout it is). Its message says nothing of the request."""

    def __init__(self) -> None:
        super().__init__(None)

    def __str__(self) -> str:
        return "no byte from the client within the read timeout"


def read_timeout_seconds(environ: Any = None) -> float:
    """INTAKE_WEB_READ_TIMEOUT_SECONDS: seconds a read from a client may wait for its next byte."""
    raw = (os.environ if environ is None else environ).get(READ_TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_READ_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise RuntimeError(f"{READ_TIMEOUT_VARIABLE} must be a number of seconds between 0 and 3600, "
                           f"not {raw[:20]!r}")
    return value


class ReadTimeoutUnreader(SocketUnreader):
    """gunicorn's socket reader, raising `ClientReadTimeout` when the socket's timeout expires."""

    timed_out = False
    parser: Any = None

    def chunk(self, size_hint: int | None = None) -> bytes:
        try:
            data: bytes = super().chunk(size_hint)
        except TimeoutError:
            self.timed_out = True
            request = getattr(self.parser, "mesg", None)
            if request is not None:  # the answer (a 408) says `Connection: close`, and the connection closes
                request.must_close = True
            raise ClientReadTimeout() from None
        return data


class ReadTimeoutConnection(TConn):  # type: ignore[misc]
    """A client connection whose socket reads time out after `read_timeout` seconds without a byte."""

    read_timeout = DEFAULT_READ_TIMEOUT_SECONDS
    closed = False

    @property
    def timed_out(self) -> bool:
        return bool(getattr(getattr(self.parser, "unreader", None), "timed_out", False))

    def close(self, graceful: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        # A client that went silent has nothing left in flight to drain.
        super().close(graceful=graceful and not self.timed_out)

    def init(self) -> None:
        # The worker thread calls this before each request on the connection, right after making
        # the socket blocking again (which clears any timeout): set it here, each time.
        super().init()
        self.sock.settimeout(self.read_timeout)
        unreader = getattr(self.parser, "unreader", None)
        if isinstance(unreader, SocketUnreader) and not isinstance(unreader, ReadTimeoutUnreader):
            # An HTTP/1 parser just made for this connection: reads through ReadTimeoutUnreader.
            timed = ReadTimeoutUnreader(unreader.sock, unreader.mxchunk)
            timed.buf = unreader.buf  # bytes already read ahead, if any
            timed.parser = self.parser
            self.parser.unreader = timed


class _TimedSocket(socket.socket):
    """A client socket that, made blocking, waits at most `read_timeout` per operation.

    gunicorn's `TConn.init` makes the socket blocking (no timeout) and then, with TLS, wraps it and
    shakes hands on it: a client that connects and stalls in the handshake held a thread for ever.
    The TLS socket takes this socket's timeout; `ReadTimeoutConnection.init` sets it again after."""

    read_timeout = DEFAULT_READ_TIMEOUT_SECONDS

    def setblocking(self, flag: bool) -> None:
        super().setblocking(flag)
        if flag:
            self.settimeout(self.read_timeout)


class ReadTimeoutWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with `ReadTimeoutConnection`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout_seconds()

    def handle(self, conn: Any) -> Any:
        """gunicorn's `handle`, then, for a connection that is not kept, its close here in the worker
        thread. gunicorn closes it in the worker's main loop, gracefully: it half-closes and waits up
        to 2 s for the client to close its end, and meanwhile the loop accepts and dispatches
        nothing. A client that never closes (a stalled one, answered or not) froze the whole worker
        for 2 s per connection; here it holds one thread for that long at most."""
        keep = super().handle(conn)
        if keep is False:
            conn.close(graceful=True)
        return keep

    def accept(self, listener: Any) -> None:
        """As gunicorn's `ThreadWorker.accept` (27.0.1), with the connection class replaced."""
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            if self.cfg.is_ssl:
                timed = _TimedSocket(client_sock.family, client_sock.type, client_sock.proto,
                                     fileno=client_sock.detach())
                timed.read_timeout = self.read_timeout
                client_sock = timed
            client_sock.setblocking(True)
            conn = ReadTimeoutConnection(self.cfg, client_sock, client_addr, listener.getsockname())
            conn.read_timeout = self.read_timeout
            self.enqueue_req(conn)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
