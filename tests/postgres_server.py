"""A real, throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder.

The server listens on a free local port and on a socket in its own folder, trusts
local connections (nothing but this machine reaches it) and is stopped, its folder
removed, when the tests end. A benchmark that keeps its databases between runs gives
the server a folder of its own: the cluster there is created once and started again.
``initdb`` and ``pg_ctl`` refuse to run as root: as root the cluster belongs to the
unprivileged ``postgres`` user and they run as that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

SUPERUSER = "calspot"
START_TIMEOUT_S = 60


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (the newest version installed), or None."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    return Path(folders[-1]) if folders and (Path(folders[-1]) / "initdb").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster on a free port: in a fresh temporary folder, or in ``folder`` (kept, reused)."""

    def __init__(self, bin_dir: Path, folder: Path | None = None) -> None:
        self.bin_dir = bin_dir
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder.resolve() if folder is not None else Path(tempfile.mkdtemp(prefix="calspot-pg-"))
        self.kept = folder is not None
        self.data = self.folder / "data"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=True)

    def start(self) -> PostgresServer:
        """Create the cluster (unless its folder holds one) and start the server; raise with the server's words if it does not start."""
        if self._user:
            entry = pwd.getpwnam(self._user)
            self.folder.chmod(0o755)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        try:
            if not (self.data / "PG_VERSION").exists():
                self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")
            self.restart()
        except subprocess.CalledProcessError as exc:
            log = (self.folder / "server.log").read_text() if (self.folder / "server.log").exists() else ""
            if not self.kept:
                self.remove()
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr.strip()} {log[-2000:]}") from exc
        return self

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "calspot") -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, keeping its cluster (it can be started again)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Start the (stopped) server on its port."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def remove(self) -> None:
        """Stop the server if it runs, and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
