"""A throwaway certificate authority and a server certificate for loopback, made with ``openssl``.

Who calls: tests (and anyone trying the HTTPS emulators by hand): ``make_certs(dir)`` returns the
CA certificate a client trusts and the server certificate + key the emulator serves, valid for
``127.0.0.1`` and ``localhost``, for one day. Nothing here is for production.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sinkapp.errors import InfraError


@dataclass(frozen=True)
class Certs:
    ca: Path                    # CA certificate (PEM): what a client is told to trust
    cert: Path                  # server certificate (PEM), signed by the CA
    key: Path                   # server private key (PEM)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def _run(args: list[str], cwd: Path) -> None:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise InfraError(f"openssl {' '.join(args[1:3])} failed: {out.stderr.strip()[-500:]}")


def make_certs(directory: Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Certs:
    if shutil.which("openssl") is None:
        raise InfraError("openssl is not on PATH (apt-get install openssl)")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    san = ",".join(f"IP:{n}" if n.replace(".", "").isdigit() else f"DNS:{n}" for n in names)
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=sinkapp test CA",
          "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={names[0]}", "-keyout", "server.key",
          "-out", "server.csr"], d)
    (d / "server.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
          "-days", "1", "-out", "server.pem", "-extfile", "server.ext"], d)
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key")
