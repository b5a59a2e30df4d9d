"""The HTTP env server: envs over ``/v1`` on uvicorn, leases in Redis or in memory.

``webserv serve`` runs :func:`webserv.server.app.create_app`; :class:`webserv.client.RemoteWebEnv`
is its Gymnasium client.
"""
