"""Many hosts on Ray: a node agent per host, a stateless router with the same ``/v1`` API,
a fast path for trainers inside the cluster, and trainer adapters.

A host joins by starting Ray with the label ``webserv-node=<name>``; the node agent (a Ray
actor pinned to that label) runs the single-host server there. Ray is an optional
dependency (``pip install 'webserv[cluster]'``): nothing here imports it at module level.
"""
