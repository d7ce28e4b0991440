"""The multi-process deployment: ``trading up``, ``down``, ``status``, ``logs``.

``config`` validates ``deploy.yaml``; ``topology`` resolves it against the
project's modules into programs and routes; ``render`` turns that into
``nginx.conf`` and ``supervisord.conf``; ``supervisor`` starts and talks to
supervisord; ``health`` probes the servers; ``logs`` reads what they wrote;
``deployment`` puts the steps together.
"""
