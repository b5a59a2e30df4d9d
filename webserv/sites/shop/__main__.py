"""``python -m webserv.sites.shop --data-dir DIR --port P``: the lean launcher pools use."""

from __future__ import annotations

import argparse
from pathlib import Path

from webserv.sites.shop.serve import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m webserv.sites.shop", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--jitter-ms", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.data_dir / "shop.db").is_file():
        parser.error(f"{args.data_dir} holds no shop.db; seed it with `webserv site seed shop`")
    if min(args.latency_ms, args.jitter_ms) < 0:
        parser.error("--latency-ms and --jitter-ms must be >= 0")
    serve(args.data_dir, args.port, args.host, args.latency_ms, args.jitter_ms)


if __name__ == "__main__":
    main()
