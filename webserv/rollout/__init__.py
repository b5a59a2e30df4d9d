"""Rollouts: a shopper policy on many envs at once, recorded for SFT and RL.

``runner`` schedules episodes (and GRPO groups) and writes them (``records``); ``envs`` is the
small async env interface with its in-process implementation, ``remote`` the one on a
``webserv serve`` server; ``cli`` is ``webserv rollout``.
"""
