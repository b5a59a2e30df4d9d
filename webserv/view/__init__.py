"""The trajectory viewer and the live dashboard: ``webserv view DIR`` and ``/ui`` of
``webserv serve``.

A read-only web app (FastAPI, Jinja templates, a little JavaScript in ``static/``) over the
records webserv writes: rollout directories (:mod:`webserv.rollout.records`), behaviour
evaluations (:mod:`webserv.behaviour.replay`) and suite reports
(:class:`webserv.env.runner.SuiteReport`), found under one directory
(:mod:`.sources`), indexed once and re-read only as they grow (:mod:`.lines`). Under
``webserv serve`` it adds a dashboard of the server's pool, envs, latencies and errors
(:mod:`.dashboard`), behind the server's token (:mod:`.auth`).
"""
