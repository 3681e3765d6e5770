"""The `streamdb` command: run saved queries, run conformance tests, serve, or open a REPL.

The top of the layers (docs/ARCHITECTURE.md): it builds on every package; nothing imports it."""

from __future__ import annotations

import argparse
import sys

from repl import migrations
from server.startup import exit_cleanly, sql_files
from sqlengine.engine import Engine
from sqlengine.results import Rows, StatementError
from sqlengine.udf import EXTENSION_DIR_CONFIG, load_extensions


def run_queries(data_dir: str, paths: list[str]) -> int:
    """Execute saved .sql files on the in-process engine and print each statement's outcome."""
    engine = Engine(data_dir)
    try:
        for file in sql_files(paths):
            print(f"-- {file}")
            try:
                results = engine.execute(file.read_text())
            except StatementError as exc:
                print(f"{file}: line {exc.line}: {exc}", file=sys.stderr)
                return 1
            engine.run_until_idle()
            for result in results:
                if isinstance(result, Rows):
                    print(" | ".join(name for name, _ in result.columns))
                    for row in result.rows:
                        print(" | ".join("null" if v is None else str(v) for v in row))
                else:
                    print(f"{result.statement[:60]}... -> {getattr(result, 'message', 'ok')}")
        engine.run_until_idle()
    finally:
        engine.close()
    return 0


def add_kafka_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT[,...]",
        help="keep every topic on this Kafka cluster instead of the embedded log "
        "(also bootstrap.servers in --config)",
    )
    parser.add_argument(
        "--service-id",
        help="ksql.service.id: names internal topics and consumer groups (default default_)",
    )


def add_extension_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ext-dir",
        metavar="DIR",
        help="load user-defined functions from the .py files of DIR (ksql.extension.dir)",
    )


def kafka_config(args: argparse.Namespace) -> dict[str, str]:
    """The properties --bootstrap-servers, --service-id and --ext-dir set."""
    config = {}
    if getattr(args, "ext_dir", None):
        config[EXTENSION_DIR_CONFIG] = args.ext_dir
    if args.bootstrap_servers:
        config["bootstrap.servers"] = args.bootstrap_servers
    if args.service_id:
        config["ksql.service.id"] = args.service_id
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamdb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    test = sub.add_parser("test", help="run query-validation test files (QTT format)")
    test.add_argument("paths", nargs="+")
    test.add_argument("--json", dest="json_out", help="write every case's result to this file")
    test.add_argument("--jobs", type=int, default=None, help="worker processes")
    add_kafka_arguments(test)
    runner = sub.add_parser(
        "test-runner", help="ksqlDB's ksql-test-runner: statements, input and expected output"
    )
    runner.add_argument("-s", "--sql-file", required=True, help="the SQL statements to test")
    runner.add_argument("-i", "--input-file", help="a JSON file of the input records")
    runner.add_argument("-o", "--output-file", required=True, help="the expected records")
    runner.add_argument("-e", "--extension-dir", help="a directory of user-defined functions")
    run = sub.add_parser("run", help="execute saved .sql files on the in-process engine")
    run.add_argument("--data-dir", default="data")
    run.add_argument("--queries", action="append", default=[])
    add_extension_argument(run)
    server = sub.add_parser("server", help="serve the ksqlDB-compatible REST API")
    server.add_argument("--host", help="default: listeners in --config, else 127.0.0.1")
    server.add_argument("--port", type=int, help="default: listeners in --config, else 8088")
    server.add_argument("--data-dir", default="data")
    server.add_argument("--queries", action="append", default=[])
    server.add_argument("--config", help="a properties file of server configuration")
    server.add_argument(
        "--schema-registry-url",
        help="an external Schema Registry to use instead of the built-in one",
    )
    add_kafka_arguments(server)
    add_extension_argument(server)
    migrations.add_arguments(
        sub.add_parser("migrations", help="ksqlDB's ksql-migrations against a server")
    )
    cli = sub.add_parser("cli", help="the interactive command line (a server, or --local)")
    cli.add_argument(
        "url", nargs="?", help="the server (default: $STREAMDB_URL, else http://localhost:8088)"
    )
    cli.add_argument("--local", action="store_true", help="run the engine in this process")
    cli.add_argument("--data-dir", default="data", help="the engine's data with --local")
    cli.add_argument("-f", "--file", help="run the statements of this file, then exit")
    cli.add_argument("-e", "--execute", help="run these statements, then exit")
    cli.add_argument("-u", "--user", help="the user, for a server with Basic authentication")
    cli.add_argument("-p", "--password", help="the password (asked for if only --user is given)")
    add_extension_argument(cli)
    args = parser.parse_args(argv)
    return exit_cleanly(args.command, lambda: run_command(args))


def run_command(args: argparse.Namespace) -> int:
    if args.command in ("cli", "run"):
        # The in-process engine's functions (cli --local, run); a server gets its directory
        # through its configuration, as ksql.extension.dir.
        load_extensions(args.ext_dir)
    if args.command == "cli":
        from repl.main import run_cli  # prompt-toolkit and httpx load only for the CLI

        return run_cli(
            args.url, args.local, args.data_dir, args.file, args.execute, args.user, args.password
        )
    if args.command == "test":
        # Loaded for this command only: the runner registers ksqlDB's test-only functions,
        # which no other command's SHOW FUNCTIONS lists.
        from server.qtt import run_tests

        return run_tests(args.paths, args.json_out, args.jobs, kafka_config(args))
    if args.command == "migrations":
        return migrations.run(args)
    if args.command == "test-runner":
        from sqlengine.testing.ksql_test_runner import run_test_runner

        return run_test_runner(args.sql_file, args.input_file, args.output_file, args.extension_dir)
    if args.command == "server":
        from server.serve import run_server  # the server's dependencies load only when serving

        return run_server(
            args.host,
            args.port,
            args.data_dir,
            sql_files(args.queries),
            args.config,
            args.schema_registry_url,
            kafka_config(args),
        )
    return run_queries(args.data_dir, args.queries or ["queries"])


if __name__ == "__main__":
    sys.exit(main())
