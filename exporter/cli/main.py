"""The ``tenant-exporter`` command: parse arguments, then call into the package.

    serve          run the service
    check-config   validate every config file (file:line:field errors, exit 1)
    rules          generate | check the Prometheus rule files from config/monitoring.yml (or print OpenSLO)
    keys           create | list | revoke API keys
    audit          verify | export | checkpoint the audit log
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from exporter import __version__
from exporter.cli import audit as cli_audit
from exporter.core.errors import ConfigError, ExporterError, ProblemError
from exporter.settings import Settings

PROMETHEUSRULE = Path("deploy/kubernetes/base/prometheusrule.yaml")  # rulegen/prometheusrule.py's default output


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenant-exporter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"tenant-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="listen address (env HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (env PORT, default 8000)")
    serve.add_argument("--config-dir", type=Path, help="config directory (env CONFIG_DIR, default ./config)")
    serve.add_argument("--metrics-port", type=int, help="also serve /metrics on this port (env METRICS_PORT)")

    check = sub.add_parser("check-config", help="validate the config files and exit")
    check.add_argument("--config-dir", type=Path, help="config directory (env CONFIG_DIR, default ./config)")

    rules = sub.add_parser("rules", help="Prometheus rules from config/monitoring.yml").add_subparsers(
        dest="rules_command", required=True)
    for name, text in (("generate", "write rules/*.yml (or the PrometheusRule)"),
                       ("check", "exit 1 when rules/*.yml (or the PrometheusRule) are stale")):
        command = rules.add_parser(name, help=text)
        command.add_argument("--config-dir", type=Path, help="config directory (env CONFIG_DIR, default ./config)")
        command.add_argument("--rules-dir", type=Path, default=Path("rules"), help="default ./rules")
        command.add_argument("--format", choices=["files", "prometheusrule", "openslo"], default="files",
                             help="files: rules/*.yml (default); prometheusrule: one Prometheus Operator object; "
                                  "openslo (generate only): print the SLOs as openslo/v1 documents")
        command.add_argument("--output", type=Path, default=PROMETHEUSRULE,
                             help="the PrometheusRule's file (default deploy/kubernetes/base/prometheusrule.yaml)")

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print its token once")
    create.add_argument("--tenant", required=True, help="tenant id")
    create.add_argument("--role", required=True, choices=["viewer", "service", "admin", "operator"])
    create.add_argument("--name", default="", help="a name to recognise the key by")
    create.add_argument("--config-dir", type=Path)
    listing = keys.add_parser("list", help="list keys (never their tokens)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    cli_audit.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            config_dir=getattr(args, "config_dir", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            metrics_port=getattr(args, "metrics_port", None),
        )
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command == "serve":
            return _serve(settings)
        if args.command == "check-config":
            return _check_config(settings)
        if args.command == "rules":
            return _rules(args, settings)
        if args.command == "keys":
            return asyncio.run(_keys(args, settings))
        if args.command == "audit":
            return asyncio.run(cli_audit.run(args, settings))
    except ConfigError as e:
        print(f"tenant-exporter: invalid configuration ({len(e.issues)} problem(s)):", file=sys.stderr)
        for issue in e.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    except ProblemError as e:
        print(f"tenant-exporter: {e.detail}", file=sys.stderr)
        return 1
    except ExporterError as e:
        print(f"tenant-exporter: {e}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse requires a command


def _serve(settings: Settings) -> int:
    from exporter.app import runtime
    from exporter.app.composition import create_app
    from exporter.app.services import SERVICES
    from exporter.http import server as http_server

    app = create_app(settings, handle_signals=True, tune_runtime=True)
    loop = runtime.new_event_loop(settings.event_loop)
    logging.getLogger("exporter").info(
        "tenant-exporter %s on http://%s:%d (config %s, store %s, event loop %s)", __version__, settings.host,
        settings.port, settings.config_dir, settings.database_url.split("@")[-1], type(loop).__module__,
    )
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(http_server.serve(app, app[SERVICES].protocol_errors, settings.host, settings.port))
    return 0


def _check_config(settings: Settings) -> int:
    from exporter.config import load_config

    config = load_config(settings)
    catalog = config.catalog
    print(
        f"config OK ({config.version}): {len(catalog.plans)} plans, {len(catalog.tenants)} tenants, "
        f"{len(catalog.regions)} regions, {len(catalog.features)} features, "
        f"{len(config.monitoring.rules)} alert rules, {len(config.monitoring.operational)} operational alerts; "
        f"files: {', '.join(config.files)}"
    )
    return 0


def _rules(args: argparse.Namespace, settings: Settings) -> int:
    from exporter.monitoring.config import load_monitoring
    from exporter.rulegen import prometheus as promrules
    from exporter.rulegen import prometheusrule

    monitoring = load_monitoring(settings.config_dir)
    if args.format == "openslo":
        if args.rules_command != "generate":
            print("tenant-exporter: --format openslo prints documents; there is nothing to check", file=sys.stderr)
            return 2
        import yaml

        from exporter.rulegen.openslo import documents

        print(yaml.safe_dump_all(documents(monitoring), sort_keys=False, width=120), end="")
        return 0
    if args.format == "prometheusrule":
        outputs, what, again = prometheusrule.render(monitoring, args.output), args.output, " --format prometheusrule"
        if args.rules_command == "generate":
            written = promrules.write(outputs)
    else:
        outputs = {args.rules_dir / name: text for name, text in promrules.render(monitoring).items()}
        what, again = args.rules_dir, ""
        if args.rules_command == "generate":
            written = promrules.generate(monitoring, args.rules_dir)
    if args.rules_command == "generate":
        for path in written:
            print(f"wrote {path}")
        return 0
    stale = promrules.stale(outputs)
    for problem in stale:
        print(f"{problem.path}: {problem.reason}; run `tenant-exporter rules generate{again}`", file=sys.stderr)
    if not stale:
        print(f"rules OK: {what} matches {monitoring.file}")
    return 1 if stale else 0


async def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from exporter.audit.events import Actor
    from exporter.auth import apikeys
    from exporter.config import load_config
    from exporter.core.clock import SystemClock, isoformat
    from exporter.store import open_store

    store = await open_store(settings.database_url, wait=settings.store_timeout)
    clock = SystemClock()
    try:
        if args.keys_command == "create":
            catalog = load_config(settings).catalog
            token, record = await apikeys.create_key(
                store, catalog, clock, tenant_id=args.tenant, role=args.role, name=args.name, actor=Actor.cli()
            )
            print(f"created {record.id} ({record.role}) for tenant {record.tenant_id}; the token is shown once:",
                  file=sys.stderr)
            print(token)
        elif args.keys_command == "list":
            print(f"{'ID':<17} {'TENANT':<20} {'ROLE':<9} {'TOKEN':<10} {'CREATED':<25} {'LAST USED':<25} "
                  f"{'REVOKED':<25} NAME")
            for r in await store.list_api_keys(args.tenant):
                last = isoformat(r.last_used_at) if r.last_used_at else "-"
                revoked = isoformat(r.revoked_at) if r.revoked_at else "-"
                print(f"{r.id:<17} {r.tenant_id:<20} {r.role:<9} {r.token_hint:<10} {isoformat(r.created_at):<25} "
                      f"{last:<25} {revoked:<25} {r.name}")
        elif args.keys_command == "revoke":
            record = await apikeys.revoke_key(store, clock, args.key_id, actor=Actor.cli())
            print(f"revoked {record.id} (tenant {record.tenant_id}, {record.role})")
    finally:
        await store.close()
    return 0
