"""The course server's JupyterHub configuration (``hub/jupyterhub_config.py`` applies it).

- **Proxy**: configurable-http-proxy from npm (``hub/package-lock.json``), routing by
  host name.
- **Per-user origins**: every user's server has a host name of its own
  (``<user>.<domain>``, ``JupyterHub.subdomain_host``). A page on one student's server
  is then another origin than the instructor's, so it can neither read nor frame the
  instructor's pages; and the formgrader, which JupyterLab shows in an iframe, can be
  framed by the instructor's own JupyterLab only (``frame-ancestors 'self'``, sent by
  :mod:`course.grading.formgrader` on the formgrader's pages when the server has its own
  origin). JupyterHub's default for everything else, ``frame-ancestors 'none'``, stays.
  On ``localhost`` browsers resolve ``*.localhost`` themselves; a public server needs a
  wildcard DNS name and certificate (README, "Run a class").
- **Authenticator**: PAM, against the Unix accounts made from the roster
  (:mod:`course.hub.accounts`); only the roster's usernames may log in.
- **Spawner**: each user's server runs as their own Unix account
  (``LocalProcessSpawner``, the hub running as root): students in their home folder,
  instructors in the course folder, each with the course's Jupyter settings for their
  role (``hub/jupyter-config/``).
- **Exchange**: :mod:`course.hub.service`, a hub service running as the exchange account.

Every setting comes from :class:`Settings`, which ``python -m course.hub`` passes through
the environment.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlparse

from course.hub.roster import Roster

__all__ = ["HUB_DIR", "Settings", "configure"]

REPO = Path(__file__).resolve().parents[2]
HUB_DIR = REPO / "hub"
_ENV = "COURSE_HUB_SETTINGS"


@dataclass
class Settings:
    course_root: str                  # the nbgrader course folder (the instructors' work folder)
    roster: str                       # roster.csv
    state: str                        # the hub's database, cookie secret, exchange, passwords
    url: str = "http://localhost:8000"  # what browsers open; users get <name>.<host>
    bind: str = ""                    # where the proxy listens (default: the url's port, all interfaces)
    course_id: str = "cnn-course"
    hub_port: int = 0                 # the hub's own port (0: url port + 1)
    exchange_port: int = 0            # the exchange service's port (0: url port + 2)
    api_port: int = 0                 # the proxy's API port (0: url port + 3)
    isolated: bool = True             # False: everybody's server runs as the hub's account
    ssl_cert: str = ""
    ssl_key: str = ""

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "Settings":
        raw = os.environ.get(_ENV)
        if not raw:
            raise RuntimeError(f"hub/jupyterhub_config.py reads its settings from ${_ENV}: "
                               "start the course server with ./dev.sh hub (python -m course.hub)")
        data = json.loads(raw)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @property
    def port(self) -> int:
        parsed = urlparse(self.url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    def ports(self) -> tuple[int, int, int]:
        base = self.port if self.port > 1024 else 8000
        return (self.hub_port or base + 1, self.exchange_port or base + 2,
                self.api_port or base + 3)

    @property
    def exchange_url(self) -> str:
        return f"http://127.0.0.1:{self.ports()[1]}/services/exchange/"


def _role_config_path(role: str, settings: Settings) -> str:
    dirs = [HUB_DIR / "jupyter-config" / role, HUB_DIR / "jupyter-config" / "common"]
    if role == "instructor":
        dirs.append(REPO / "jupyter-config")
    return os.pathsep.join(str(d) for d in dirs)


def configure(c, settings: Settings) -> None:
    """Apply the course server's settings to JupyterHub's config object ``c``."""
    roster = Roster.read(settings.roster)
    state = Path(settings.state)
    hub_port, exchange_port, api_port = settings.ports()
    url = urlparse(settings.url)
    venv_bin = str(Path(sys.executable).parent)

    c.JupyterHub.bind_url = (settings.bind or f"{url.scheme}://:{settings.port}") + "/"
    c.JupyterHub.subdomain_host = f"{url.scheme}://{url.netloc}"
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{api_port}"
    chp = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = [str(chp)]
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    if settings.ssl_cert:
        c.JupyterHub.ssl_cert = settings.ssl_cert
        c.JupyterHub.ssl_key = settings.ssl_key
    c.JupyterHub.db_url = "sqlite:///" + str(state / "jupyterhub.sqlite")
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True

    # Who may log in: the roster's accounts, checked by PAM.
    # (Not isolated, a trial run: one shared password, given on the command line.)
    c.JupyterHub.authenticator_class = "pam" if settings.isolated else "dummy"
    c.PAMAuthenticator.open_sessions = False
    c.Authenticator.allowed_users = {m.username for m in roster.members}
    c.Authenticator.admin_users = set()
    c.JupyterHub.load_groups = {
        f"{settings.course_id}-instructors": {"users": [m.username for m in roster.instructors]},
        f"{settings.course_id}-students": {"users": [m.username for m in roster.students]},
    }

    # Each person's server: their own account, their role's Jupyter settings.
    roles = {m.username: m.role for m in roster.members}
    base_env = {
        "COURSE_ID": settings.course_id,
        "COURSE_EXCHANGE_URL": settings.exchange_url,
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
    }
    if settings.isolated:
        c.JupyterHub.spawner_class = "localprocess"
    else:
        c.JupyterHub.spawner_class = "simple"  # every server as the hub's own account
    c.Spawner.cmd = [str(Path(venv_bin) / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 120
    c.Spawner.args = ["--ServerApp.terminado_settings={'shell_command': ['/bin/bash']}"]

    def pre_spawn_hook(spawner):
        role = roles.get(spawner.user.name)
        if role is None:
            raise RuntimeError(f"{spawner.user.name} is not on the roster")
        spawner.environment = {
            **base_env,
            "JUPYTER_CONFIG_PATH": _role_config_path(role, settings),
            "COURSE_ROLE": role,
        }
        # Instructors work in the course folder (the formgrader's); students at home.
        spawner.notebook_dir = settings.course_root if role == "instructor" else "~"
        # Instructors' files are their group's (0007); students' their own (0077). nbgrader
        # reads the course's nbgrader_config.py from the server's working folder.
        umask = "0007" if role == "instructor" else "0077"
        start = f'umask {umask} && cd "${{COURSE_WORKDIR:-$HOME}}" && exec "$0" "$@"'
        spawner.cmd = ["/bin/sh", "-c", start, str(Path(venv_bin) / "jupyterhub-singleuser")]
        if role == "instructor":
            spawner.environment["COURSE_WORKDIR"] = settings.course_root

    c.Spawner.pre_spawn_hook = pre_spawn_hook

    # The exchange: a service only its own account can read the folder of.
    exchange_env = {
        "COURSE_EXCHANGE_ROOT": str(state / "exchange"),
        "COURSE_ROSTER": str(Path(settings.roster).resolve()),
        "COURSE_ID": settings.course_id,
        "PATH": f"{venv_bin}:/usr/bin:/bin",
    }
    service = {
        "name": "exchange",
        "url": f"http://127.0.0.1:{exchange_port}",
        "command": [sys.executable, "-m", "course.hub.service"],
        "environment": exchange_env,
        "display": False,
    }
    if settings.isolated:
        service["user"] = f"{settings.course_id}-exchange"
        service["cwd"] = str(state / "exchange")
    c.JupyterHub.services = [service]
