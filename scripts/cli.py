"""The `csms` command: serve the CSMS, simulate stations, print the data catalog, renew station certificates."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time


def cmd_serve(args: argparse.Namespace) -> int:
    from actors import logs, protocols
    from actors.config import load_config
    from serve_app import app
    from serve_app.operator_token import with_operator_token

    # Installed first, so a stop asked for while Ray starts is honoured once it is up, and
    # again after ray.init, which installs handlers of its own.
    done = threading.Event()

    def on_stop_signals() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())

    on_stop_signals()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logs.configure()
    config = load_config(args.config)
    # The open-file limit first: resolve sizes the balancers and gateway replicas for it.
    app.prepare_environment(config)
    config = app.resolve(config)
    import ray

    config, token_path = with_operator_token(config)
    # "local" forces a Ray of our own: with no address, ray.init would join any Ray already
    # running on this machine and take over its actors.
    ray.init(address=args.address or "local", namespace="csms", include_dashboard=False,
             logging_level=logging.WARNING)
    # ray.init replaces the driver's SIGTERM handler with one that exits at once (no drain, no
    # flush, nothing landed); ours goes back before anything can be accepted.
    on_stop_signals()
    app.start_backend(config)
    app.deploy(config)
    base = f"{config.host}:{config.port}"
    ws, http = ("wss", "https") if config.tls_enabled() else ("ws", "http")  # docs/security.md
    print(f"CSMS ready. Stations: {ws}://{base}/ocpp/<station_id> ({', '.join(protocols.SUBPROTOCOLS)}, Basic auth). "
          f"Operator API: {http}://{base}/api (docs: {http}://{base}/docs). Back office: {http}://{base}/. "
          f"Data: {config.data_path}", flush=True)
    if config.tls_enabled() and config.plain_port:
        print(f"Plain ws:// and http:// also on {config.host}:{config.plain_port}.", flush=True)
    if token_path:
        print(f"Operator bearer token is in {token_path} (set CSMS_API_TOKENS to use your own).", flush=True)
    on_stop_signals()
    done.wait()
    print("Stopping: draining stations and flushing the event log...", flush=True)
    stopping = time.monotonic()
    app.stop(config)
    logging.getLogger("csms").info("stopping: CSMS actors stopped",
                                   extra={"elapsed_s": round(time.monotonic() - stopping, 2)})
    ray.shutdown()
    print(f"Stopped in {time.monotonic() - stopping:.1f} s.", flush=True)
    # Everything is stopped, fsync'd and landed; tearing the interpreter down (Ray's C++ core
    # worker among it) took another 1.5-3.5 s here, so the process ends without it.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def cmd_simulate(argv: list[str]) -> int:
    from scripts import simulator

    return simulator.main(argv) or 0


def cmd_catalog(argv: list[str]) -> int:
    from analytics import catalog

    return catalog.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "simulate":
        return cmd_simulate(argv[1:])
    if argv and argv[0] == "catalog":
        return cmd_catalog(argv[1:])
    if argv and argv[0] == "certificates":
        from scripts import certificates

        return certificates.main(argv[1:])
    if argv and argv[0] == "ray-start":  # every other argument goes to `ray start`
        from scripts import ray_node

        return ray_node.main(argv[1:])
    parser = argparse.ArgumentParser(prog="csms", description="OCPP Charge Station Management System on Ray")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the CSMS (embedded local Ray unless --address)")
    serve_p.add_argument("--config", help="TOML config file (default: $CSMS_CONFIG or built-in defaults)")
    serve_p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    sub.add_parser("simulate", help="run simulated stations against a CSMS (see csms simulate --help)")
    sub.add_parser("catalog", help="print the lake's data catalog: tables, columns, units, freshness ([--data-root] [--json])")
    sub.add_parser("certificates", help="station certificates near expiry; --renew asks those stations for new CSRs")
    sub.add_parser("ray-start", help="`ray start ARGS...` with the environment the CSMS needs (cluster nodes)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
