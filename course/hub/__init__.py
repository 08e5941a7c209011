"""The course server: JupyterHub, the roster's accounts and a private exchange.

- :mod:`course.hub.roster`: the class list (``roster.csv``);
- :mod:`course.hub.accounts`: Unix accounts, passwords, the course folder's permissions,
  the gradebook's students (as root);
- :mod:`course.hub.config`: JupyterHub's configuration (``hub/jupyterhub_config.py``);
- :mod:`course.hub.service`: the exchange, a hub service that holds releases,
  submissions (stamped with its own clock) and feedback, and gives each person theirs;
- :mod:`course.hub.exchange`: nbgrader's exchange classes that talk to it;
- ``python -m course.hub`` (``./dev.sh hub``): set up and start the server.

The README's "Run a class" is the instructor's guide; ``hub/kubernetes.md`` is the
guide for a class too big for one machine.
"""
