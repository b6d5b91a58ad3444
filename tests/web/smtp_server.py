"""A small real SMTP server on a loopback port for tests (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, QUIT)."""

from __future__ import annotations

import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        out = self.wfile
        out.write(b"220 test-smtp ready\r\n")
        sender, recipients = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode().strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                out.write(b"250 test-smtp\r\n")
            elif verb == "MAIL":
                sender = cmd.split(":", 1)[1].strip().strip("<>")
                out.write(b"250 OK\r\n")
            elif verb == "RCPT":
                recipients.append(cmd.split(":", 1)[1].strip().strip("<>"))
                out.write(b"250 OK\r\n")
            elif verb == "DATA":
                out.write(b"354 end with .\r\n")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data.decode())
                self.server.messages.append((sender, recipients, "".join(lines)))
                sender, recipients = None, []
                out.write(b"250 queued\r\n")
            elif verb == "QUIT":
                out.write(b"221 bye\r\n")
                return
            else:
                out.write(b"250 OK\r\n")


class SmtpServer:
    """``with SmtpServer() as s:`` listens on ``s.port``; ``s.messages`` holds (from, [to], raw message)."""

    def __init__(self):
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.messages = []
        self.port = self._server.server_address[1]
        self.messages = self._server.messages
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
