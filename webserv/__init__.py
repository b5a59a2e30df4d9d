"""webserv: a scalable RL environment server for web agents."""

__version__ = "0.1.0"
