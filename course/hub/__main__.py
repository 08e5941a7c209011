"""Start the course server: ``python -m course.hub`` (``./dev.sh hub`` runs it).

As root (the normal case on a course server), it first makes what the roster asks for:
the Unix accounts and their passwords (``<state>/passwords.csv``), the exchange's
account and folder, the course folder's permissions and the gradebook's students; then
it starts JupyterHub with ``hub/jupyterhub_config.py``. Run it again after editing the
roster: new people get accounts, nobody loses theirs.

Not as root, nothing can be isolated, and it says so; ``--trial`` starts the server
anyway for a look on one's own machine.
"""
from __future__ import annotations

import argparse
import os
import pwd
import shutil
import sys
from pathlib import Path

from course.hub.config import HUB_DIR, REPO, Settings
from course.hub.roster import Roster, RosterError

NOT_ISOLATED = """\
Not running as root, so the course server cannot isolate anybody:
  - every user's Jupyter server runs as {user}, so students can read and change each
    other's files, the course folder (source/ holds the solutions), the gradebook and
    the exchange's folder;
  - logins are checked against one shared password printed below, not PAM (only root
    can check other accounts' passwords).
Start it as root (sudo ./dev.sh hub) for a class. --trial starts it anyway, for a look."""


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev.sh hub", description=__doc__.split("\n\n")[0])
    parser.add_argument("--roster", default="roster.csv",
                        help="the class list (see hub/roster.example.csv); default roster.csv")
    parser.add_argument("--course", default=str(REPO), help="the course folder (default: here)")
    parser.add_argument("--state", default=None,
                        help="where the hub keeps its database, the exchange and passwords.csv "
                             "(default /var/lib/COURSE-hub as root)")
    parser.add_argument("--url", default="http://localhost:8000",
                        help="the address students open; every user's server is served at "
                             "USER.HOST (default http://localhost:8000)")
    parser.add_argument("--course-id", default="cnn-course")
    parser.add_argument("--ports", default="",
                        help="HUB,EXCHANGE,PROXY_API: the local ports of the hub, the exchange "
                             "and the proxy's API (default: the URL's port + 1, 2, 3)")
    parser.add_argument("--ssl-cert", default="")
    parser.add_argument("--ssl-key", default="")
    parser.add_argument("--reset-passwords", action="store_true",
                        help="give every account on the roster a new password")
    parser.add_argument("--setup-only", action="store_true",
                        help="make the accounts, folders and gradebook, then stop")
    parser.add_argument("--open-folders", action="store_true",
                        help="let every account cross (chmod o+x) the folders on the way to "
                             "the course's Python that they cannot cross now")
    parser.add_argument("--trial", action="store_true",
                        help="not root: start anyway, with nobody isolated")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    try:
        roster = Roster.read(args.roster)
    except RosterError as error:
        print(error, file=sys.stderr)
        return 2
    root = os.geteuid() == 0
    course = Path(args.course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        print(f"--course: {course} has no nbgrader_config.py; expected the course folder",
              file=sys.stderr)
        return 2
    if not (HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        print("the proxy is not installed: run ./dev.sh hub (it runs npm ci in hub/)",
              file=sys.stderr)
        return 2
    state = Path(args.state or (f"/var/lib/{args.course_id}-hub" if root else
                                Path.home() / ".local" / "state" / f"{args.course_id}-hub"))
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o711 if root else 0o700)
    try:
        ports = [int(p) for p in args.ports.split(",")] if args.ports else [0, 0, 0]
        if len(ports) != 3:
            raise ValueError
    except ValueError:
        print(f"--ports: expected three port numbers HUB,EXCHANGE,PROXY_API, got {args.ports!r}",
              file=sys.stderr)
        return 2
    settings = Settings(course_root=str(course), roster=str(state / "roster.csv"),
                        state=str(state), url=args.url, course_id=args.course_id,
                        hub_port=ports[0], exchange_port=ports[1], api_port=ports[2],
                        isolated=root, ssl_cert=args.ssl_cert, ssl_key=args.ssl_key)
    # The hub and the exchange read their own copy of the roster, which students cannot.
    shutil.copyfile(args.roster, state / "roster.csv")
    os.chmod(state / "roster.csv", 0o600)
    from course.hub import accounts

    if root:
        needed = [Path(sys.executable).resolve(), sys.prefix, sys.base_prefix, REPO / "course",
                  HUB_DIR]
        closed = accounts.closed_folders(needed)
        if closed and not args.open_folders:
            print("The students' servers run this Python and this repository, but other "
                  "accounts cannot cross " + ", ".join(map(str, closed)) + ".\nInstall the "
                  "course where every account can read it (for example under /opt), or run "
                  "again with --open-folders to chmod o+x those folders (crossing only: "
                  "their contents stay unlisted).", file=sys.stderr)
            return 2
        accounts.open_folders(closed)
        acc = accounts.Accounts(args.course_id, state)
        passwords = acc.ensure(roster, reset_passwords=args.reset_passwords)
        acc.exchange_folder()
        exchange = pwd.getpwnam(acc.exchange_user)
        os.chown(state / "roster.csv", exchange.pw_uid, exchange.pw_gid)
        os.chmod(state / "roster.csv", 0o400)
        count = accounts.sync_gradebook(_db_url(course), args.course_id, roster)
        acc.protect_course(course)
        print(f"course server: {len(roster.members)} accounts ({len(roster.instructors)} "
              f"instructors, {count} students in the gradebook)")
        if passwords:
            print(f"new passwords for {len(passwords)} accounts: {state / 'passwords.csv'} "
                  "(root only; hand them out, then delete the file)")
    else:
        print(NOT_ISOLATED.format(user=pwd.getpwuid(os.getuid()).pw_name), file=sys.stderr)
        if not args.trial:
            return 2
        accounts.sync_gradebook(_db_url(course), args.course_id, roster)
        (state / "exchange").mkdir(exist_ok=True, mode=0o700)
    if args.setup_only:
        return 0
    env = {**os.environ, "COURSE_HUB_SETTINGS": settings.to_env()}
    command = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_DIR / "jupyterhub_config.py")]
    if not root:
        import secrets

        password = secrets.token_urlsafe(9)
        command.append(f"--DummyAuthenticator.password={password}")
        print(f"trial: log in as anyone on the roster with the password {password}", file=sys.stderr)
    print(f"course server at {args.url} (state in {state})")
    os.chdir(state)
    os.execve(sys.executable, command, env)


def _db_url(course: Path) -> str:
    return "sqlite:///" + str(course / "gradebook.db")


if __name__ == "__main__":
    sys.exit(main())
