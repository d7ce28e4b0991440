"""Finding Debian's nginx and what its build needs to run from a user folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trading_cli.errors import CliError

# Where Debian installs it; /usr/sbin is not on every user's PATH.
_SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Each HTTP module that buffers to disk has a compiled-in temp folder under
# /var/lib/nginx; nginx creates them at start, so each must point into the run
# folder. A build without the module rejects its directive.
TEMP_PATHS = {
    "client_body_temp_path": None,
    "proxy_temp_path": "http_proxy",
    "fastcgi_temp_path": "http_fastcgi",
    "uwsgi_temp_path": "http_uwsgi",
    "scgi_temp_path": "http_scgi",
}


@dataclass(frozen=True)
class Nginx:
    """An nginx binary and the temp-path directives its build understands."""

    binary: Path
    temp_path_directives: tuple[str, ...]


def find_nginx() -> Nginx:
    """The nginx on PATH (or in /usr/sbin) and its build options.

    Raises:
        CliError: no nginx installed; the message names the package.
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH_PATH])
    found = shutil.which("nginx", path=search)
    if found is None:
        raise CliError(
            "nginx is not installed; install it with "
            "`sudo apt-get install nginx-light` (or your system's nginx package)"
        )
    result = subprocess.run(
        [found, "-V"], capture_output=True, text=True, timeout=10, check=False
    )
    build = result.stdout + result.stderr
    directives = tuple(
        directive
        for directive, module in TEMP_PATHS.items()
        if module is None or f"--without-{module}_module" not in build
    )
    return Nginx(Path(found), directives)


def test_config(nginx: Nginx, conf: Path, prefix: Path) -> str | None:
    """Run ``nginx -t`` on ``conf``; the error it reports, or None when valid."""
    result = subprocess.run(
        [
            str(nginx.binary),
            "-t",
            "-q",
            "-e",
            "stderr",
            "-p",
            f"{prefix}/",
            "-c",
            str(conf),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[0] if lines else f"nginx -t exited with {result.returncode}"
