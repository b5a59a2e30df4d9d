"""A tiny site with a counter, a login and state in a data dir: a webserv plugin."""
