"""Behaviour simulation: how closely a shopper policy acts like the recorded shoppers.

``rewards`` is the Shop-R1 reward of one model reply against the ground-truth action
(format, hierarchical action reward with DARS, optional rationale self-certainty);
``metrics`` the fidelity metrics over (predicted, gold) action pairs (exact and action-type
accuracy, macro and weighted F1, per class); ``replay`` the offline next-action evaluation
over recorded steps (``steps.jsonl`` of ``webserv rollout``); ``cli`` is
``webserv behaviour ...``.

This layer sits above :mod:`webserv.policy` and :mod:`webserv.rollout`; only the CLI imports it.
"""
