"""Behaviour simulation: how closely a shopper policy acts like the recorded shoppers, and the
studies built on it.

``opera`` imports OPeRA's recorded shoppers into step records; ``rewards`` scores one model
reply against the recorded action (Shop-R1's and Customer-R1's rewards); ``metrics``,
``distribution`` and ``calibration`` are the fidelity measures; ``replay`` the offline
next-action evaluation over recorded steps and ``replay_env`` the same recordings served as
episodes (Gymnasium, ``webserv rollout --replay``, ``webserv serve --replay``); ``refine``
(persona refinement), ``twins`` (digital-twin comparison), ``judging`` (multi-agent judging),
``safety`` (screening of rollouts) and ``aligned`` (aligned scoring rules) are the simulation
studies; ``cli`` is ``webserv behaviour ...``.

This layer sits above :mod:`webserv.policy`; the rollout runner takes its safety screen and
the HTTP server its replay env from here.
"""
