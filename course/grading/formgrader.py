"""A Jupyter server extension: nbgrader's formgrader submission views, behind a CSP.

nbgrader's formgrader shows a student's notebook on the Jupyter server's own origin,
where a script would act as the instructor. The content is made inert when it is rendered
(:mod:`course.grading.inert`, through ``nbgrader_config.py``); this extension adds the
second wall, a Content-Security-Policy header, to those pages and to nothing else:

- ``<base_url>formgrader/submissions/<id>/`` (the submission view): only the template's
  own inline scripts and event handlers run, allowed by their hashes, which are taken
  from the same view rendered for a notebook with no cells (never from the student's
  page); script files only from nbgrader's static folder and our MathJax; no object,
  frame, form target or base URL; requests only to this server.
- ``<base_url>formgrader/submissions/<id>/<file>`` (a file of the student's folder, such
  as a handed-in ``notes.html``): a sandbox with nothing to run and nothing to fetch.

The policy is sent as a second ``Content-Security-Policy`` header: browsers enforce both,
so jupyter_server's own (``frame-ancestors``, its report URI, or what the server is
configured with) is kept as it is. The extension also serves MathJax for the formgrader
at ``<base_url>course/mathjax/``. It takes nbgrader's own handler list for those URLs and
replaces two of its classes by subclasses, so every other formgrader page and behaviour
is nbgrader's.

Under JupyterHub, every page of a user's server is sent with ``frame-ancestors 'none'``
(JupyterHub 4.1 and later), which leaves the formgrader blank inside JupyterLab, where
it is an iframe (nbgrader #1870). When the hub gives each user's server an origin of its
own (``JupyterHub.subdomain_host``, as the course server does), this extension sends the
formgrader's pages with ``frame-ancestors 'self'``: only the instructor's own JupyterLab
can frame them, not a page of another user's server. On a hub that serves everybody from
one origin the hub's ``'none'`` stays, and the formgrader is opened in a tab of its own.

Enable it with ``jupyter-config/jupyter_server_config.d/course.json`` on
``JUPYTER_CONFIG_PATH`` (``./dev.sh lab`` does), or
``--ServerApp.jpserver_extensions='{"course.grading.formgrader": true}'``.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from urllib.parse import urlparse

import nbformat
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from course.grading import inert

__all__ = ["MathJaxHandler", "own_origin"]  # the submission handlers are made on load

_POLICIES_KEPT = 64  # blank renderings remembered, one per submission view


def _nbgrader_handlers():
    from nbgrader.server_extensions.formgrader import handlers
    return handlers


class _PolicedExporter:
    """nbgrader's exporter, as the submission view uses it, which also sets the view's policy."""

    def __init__(self, handler: JupyterHandler, exporter):
        self.handler = handler
        self.exporter = exporter

    def from_filename(self, filename, resources=None, **kw):
        page = self.exporter.from_filename(filename, resources=dict(resources or {}), **kw)
        self.handler.add_header("Content-Security-Policy", self.handler.policy(dict(resources or {})))
        return page


def own_origin() -> bool:
    """Whether this server is the only one on its origin (JupyterHub with subdomains).

    Outside JupyterHub jupyter_server already sends ``frame-ancestors 'self'``; under a
    hub, each user's server has its own host name when the hub's host
    (``$JUPYTERHUB_HOST``) is set and differs from the server's (``$JUPYTERHUB_PUBLIC_URL``).
    """
    hub = urlparse(os.environ.get("JUPYTERHUB_HOST", "")).netloc
    mine = urlparse(os.environ.get("JUPYTERHUB_PUBLIC_URL", "")).netloc
    return bool(hub and mine and hub != mine)


class _FramedBySelf:
    """A formgrader page that the server's own JupyterLab may show in its iframe."""

    @property
    def content_security_policy(self) -> str:
        return "frame-ancestors 'self'"


def _framed(cls):
    return type(cls.__name__, (_FramedBySelf, cls), {"__doc__": cls.__doc__})


def _submission_handler_class():
    handlers = _nbgrader_handlers()

    class InertSubmissionHandler(handlers.SubmissionHandler):
        """nbgrader's submission view with a Content-Security-Policy of its own."""

        @property
        def exporter(self):
            return _PolicedExporter(self, super().exporter)

        def policy(self, resources: dict) -> str:
            """The policy of this view, from the view rendered for a notebook with no cells."""
            cache = self.settings.setdefault("course_formgrader_policies", OrderedDict())
            key = (self.request.host, self.base_url, tuple(sorted((k, repr(v)) for k, v in resources.items())))
            if key not in cache:
                blank, _ = super().exporter.from_notebook_node(nbformat.v4.new_notebook(), resources=resources)
                cache[key] = inert.formgrader_policy(blank, self.request.host, self.base_url)
                while len(cache) > _POLICIES_KEPT:
                    cache.popitem(last=False)
            return cache[key]

    return InertSubmissionHandler


def _files_handler_class():
    handlers = _nbgrader_handlers()

    class InertSubmissionFilesHandler(handlers.SubmissionFilesHandler):
        """A file of the student's graded folder, served in a sandbox with nothing to run."""

        def set_default_headers(self):
            super().set_default_headers()
            self.add_header("Content-Security-Policy", inert.FILES_POLICY)

    return InertSubmissionFilesHandler


class MathJaxHandler(JupyterHandler):
    """MathJax for the formgrader: ``config.js`` (the course's settings), ``engine.js`` (MathJax)."""

    @web.authenticated
    def get(self, name: str) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.finish(inert.mathjax_source("config" if name == "config.js" else "engine"))


def _jupyter_server_extension_points():
    return [{"module": "course.grading.formgrader"}]


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    handlers = _nbgrader_handlers()
    replace = {handlers.SubmissionHandler: _submission_handler_class(),
               handlers.SubmissionFilesHandler: _files_handler_class()}
    # nbgrader's own rules for the submission URLs, in its order (its static components and
    # next/prev navigation unchanged), with the view and the files handlers replaced.
    framed = own_origin() and "JUPYTERHUB_API_TOKEN" in os.environ

    def handler_class(cls):
        cls = replace.get(cls, cls)
        return _framed(cls) if framed and issubclass(cls, JupyterHandler) else cls

    # nbgrader's own rules for its pages, in its order (its static components and
    # next/prev navigation unchanged), with the submission view and files replaced;
    # under a hub with a host per user, every page may be framed by this server only.
    rules = [(url_path_join(base_url, pattern.lstrip("/")), handler_class(cls), *rest)
             for pattern, cls, *rest in handlers.default_handlers
             if pattern.startswith("/formgrader/submissions/") or (
                 framed and pattern.startswith("/formgrader"))]
    rules.append((url_path_join(base_url, r"/course/mathjax/(config\.js|engine\.js)"), MathJaxHandler))
    web_app.add_handlers(".*$", rules)
    # Tornado tries host rules in order and nbgrader's extension may load before or after
    # this one: put ours first, so that these URLs are always served by the classes above.
    router_rules = web_app.default_router.rules
    router_rules.insert(0, router_rules.pop(len(router_rules) - 2))
    serverapp.log.info("course: formgrader submission views served with a Content-Security-Policy")
    if framed:
        serverapp.log.info("course: the formgrader may be framed by this server's JupyterLab "
                           "(frame-ancestors 'self': this server has its own origin)")
    elif "JUPYTERHUB_API_TOKEN" in os.environ:
        serverapp.log.warning(
            "course: this hub serves every user from one origin, so the formgrader cannot be "
            "shown inside JupyterLab safely; open %sformgrader in a tab of its own, or give "
            "each user a host name (JupyterHub.subdomain_host)", base_url)
