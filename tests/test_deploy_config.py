"""``trading up`` before anything starts: config validation and rendering."""

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trading_cli.deploy.config import parse_config, unserved_modules
from trading_cli.deploy.deployment import served_at
from trading_cli.deploy.nginx import Nginx
from trading_cli.deploy.render import Machine, render_nginx, render_supervisord
from trading_cli.deploy.topology import RunDir, Topology
from trading_cli.errors import CliError, UsageError

ROOT = Path(__file__).resolve().parents[1]
KNOWN = ["core", "broker", "datafeed"]
Cli = Callable[..., Any]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _servers(**servers: dict[str, Any]) -> dict[str, Any]:
    return {"servers": servers}


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "fix"),
    [
        (
            _servers(
                a={"port": 8001, "modules": ["core"]},
                b={"port": 8001, "modules": ["broker"]},
            ),
            "servers.b.port",
            "clashes with servers.a.port",
        ),
        (
            _servers(
                a={"port": 8001, "instances": 2, "modules": ["core"]},
                b={"port": 8002, "modules": ["broker"]},
            ),
            "servers.b.port",
            "instance 1",
        ),
        (
            {
                "nginx": {"port": 8001},
                **_servers(a={"port": 8001, "modules": ["core"]}),
            },
            "servers.a.port",
            "clashes with nginx.port",
        ),
        (
            _servers(a={"port": 8001, "modules": ["core", "options"]}),
            "servers.a.modules",
            "known modules: core, broker, datafeed",
        ),
        (
            _servers(
                a={"port": 8001, "modules": ["core", "broker"]},
                b={"port": 8002, "modules": ["broker"]},
            ),
            "servers.b.modules",
            "also in servers.a.modules",
        ),
        (
            _servers(a={"port": 8001, "modules": ["broker"]}),
            "servers",
            "add it to servers.a.modules",
        ),
        (
            _servers(a={"port": 8001, "instances": 0, "modules": ["core"]}),
            "servers.a.instances",
            "greater than or equal to 1",
        ),
        (
            _servers(a={"port": 65535, "instances": 2, "modules": ["core"]}),
            "servers.a",
            "past 65535",
        ),
        (
            _servers(a={"port": 8001, "modules": ["core"], "prot": 1}),
            "servers.a.prot",
            "remove it",
        ),
        (
            {
                "nginx": {"worker_processes": "many"},
                **_servers(a={"port": 8001, "modules": ["core"]}),
            },
            "nginx.worker_processes",
            "or 'auto'",
        ),
        (
            {
                "api_base_url": "http://127.0.0.1:9000",
                **_servers(a={"port": 8001, "modules": ["core"]}),
            },
            "api_base_url",
            "nginx.port is 8000",
        ),
        (
            _servers(nginx={"port": 8001, "modules": ["core"]}),
            "servers.nginx",
            "rename the server",
        ),
    ],
)
def test_invalid_config_names_the_field_and_the_fix(
    raw: dict[str, Any], field: str, fix: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_config(raw, KNOWN)
    message = str(caught.value)
    assert message.startswith(f"deploy.yaml: {field}: ")
    assert fix in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_module_in_no_server_is_allowed_and_reported() -> None:
    config = parse_config(
        _servers(a={"port": 8001, "modules": ["core", "broker"]}), KNOWN
    )

    assert unserved_modules(config, KNOWN) == ["datafeed"]
    assert config.api_base_url == "http://127.0.0.1:8000"


def test_up_with_invalid_config_exits_2_and_starts_nothing(
    tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text("servers:\n  a: {port: 8001, modules: [core, nope]}\n")

    result = cli(ROOT, "up", "--config", str(config))

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: deploy.yaml: servers.a.modules: unknown module 'nope'; known "
        "modules: core, auth, broker, datafeed"
    ]
    assert not (tmp_path / ".run").exists()


GOOD = "nginx:\n  port: 8000\nservers:\n  main:\n    port: 8001\n    modules: [core]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD + "  main:\n    port: 8002\n    modules: [core]\n",
            "deploy.yaml: line 7, column 3: duplicate key 'main'",
        ),
        (
            GOOD.replace("  port: 8000\n", "  port: 8000\n  port: 9000\n"),
            "deploy.yaml: line 3, column 3: duplicate key 'port'",
        ),
        ("nginx:\n  port: [8000\nservers: {}\n", "deploy.yaml: line 3, column 8:"),
        (
            GOOD.replace("main", "a" * 300),
            "a server name has at most 40 characters (this one has 300)",
        ),
        (
            GOOD.replace("8000", "70000"),
            "nginx.port: input should be less than or equal to 65535 (got 70000)",
        ),
        (GOOD.replace("main:", "1:"), "servers.1.[key]: input should be a valid str"),
        ("- a\n- b\n", "deploy.yaml must be a mapping"),
        (GOOD.replace("[core]", "[" + "x" * 300 + "]"), "unknown module 'xxxx"),
    ],
    ids=[
        "duplicate-server",
        "duplicate-port",
        "syntax",
        "long-name",
        "port-range",
        "int-key",
        "not-a-mapping",
        "long-module",
    ],
)
def test_a_hostile_config_is_one_line_and_exit_2(
    tmp_path: Path, cli: Cli, text: str, message: str
) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text(text)
    result = cli(ROOT, "up", "--config", str(config))
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1 and len(result.err) < 300
    assert "unexpected" not in result.err
    assert not (tmp_path / ".run").exists()


@pytest.mark.parametrize("kind", ["binary", "folder"])
def test_a_config_that_is_not_a_text_file_is_refused(
    tmp_path: Path, cli: Cli, kind: str
) -> None:
    config = tmp_path / "deploy.yaml"
    if kind == "binary":
        config.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe")
    else:
        config.mkdir()
    result = cli(ROOT, "up", "--config", str(config))
    assert result.code == 2
    expected = {"binary": "is not UTF-8 text", "folder": "is not a regular file"}
    assert f"deploy.yaml {expected[kind]}" in result.err
    assert result.err.count("\n") == 1


@pytest.mark.requires("nginx")
def test_up_on_a_taken_port_exits_1_and_starts_nothing(
    tmp_path: Path, cli: Cli
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "deploy.yaml"
        config.write_text(
            f"nginx: {{port: {_free_port()}}}\n"
            f"servers:\n  main: {{port: {port}, modules: [core]}}\n"
        )
        result = cli(ROOT, "up", "--config", str(config))

    assert result.code == 1
    assert f"error: port {port} (main-{port}) is in use" in result.err
    assert not RunDir.for_config(config).pidfile.exists()


def test_missing_nginx_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from trading_cli.deploy import nginx

    monkeypatch.setattr(nginx, "_SEARCH_PATH", ())
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(CliError) as caught:
        nginx.find_nginx()

    assert "apt-get install nginx-light" in str(caught.value)
    assert caught.value.exit_code == 1


# -- rendering ------------------------------------------------------------------


def _topology() -> Topology:
    config = parse_config(
        {
            "nginx": {"port": 8000, "worker_processes": 2},
            **_servers(
                **{
                    "core-broker": {"port": 8001, "modules": ["core", "broker"]},
                    "datafeed": {"port": 8002, "instances": 2, "modules": ["datafeed"]},
                }
            ),
        },
        KNOWN,
    )
    return Topology(config, ws_modules=("broker", "datafeed"))


def _machine(tmp_path: Path) -> Machine:
    return Machine(
        python=Path("/usr/bin/python3"),
        src=tmp_path / "src",
        project_root=tmp_path,
        nginx=Nginx(
            Path("/usr/sbin/nginx"), ("client_body_temp_path", "proxy_temp_path")
        ),
        as_root=False,
        database_url="postgresql://trader:s3cr%40t,x@127.0.0.1:5432/trading",
    )


def test_rendering_is_deterministic_and_stays_in_the_run_folder(tmp_path: Path) -> None:
    run = RunDir(tmp_path / ".run" / "deploy")
    first = render_nginx(_topology(), run, _machine(tmp_path))
    again = render_nginx(_topology(), run, _machine(tmp_path))
    supervisord = render_supervisord(_topology(), run, _machine(tmp_path))

    assert first == again
    assert supervisord == render_supervisord(_topology(), run, _machine(tmp_path))
    assert first.startswith("# Generated by `trading up`")
    for text in (first, supervisord):
        assert "/var/" not in text and "/etc/" not in text
    assert f'pid "{run.root}/nginx/nginx.pid";' in first
    assert f"stdout_logfile={run.root}/logs/datafeed-8003.log" in supervisord


def test_nginx_balances_instances_and_upgrades_only_websocket_routes(
    tmp_path: Path,
) -> None:
    text = render_nginx(_topology(), RunDir(tmp_path), _machine(tmp_path))

    upstream = text.split("upstream server-datafeed {", 1)[1].split("}", 1)[0]
    assert "server 127.0.0.1:8002" in upstream and "server 127.0.0.1:8003" in upstream
    ws = text.split("location = /api/v1/datafeed/ws {", 1)[1].split("}", 1)[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert 'proxy_set_header Connection "upgrade";' in ws
    assert "proxy_read_timeout 3600s;" in ws
    assert "location = /api/v1/core/ws" not in text  # core has no WS routes
    assert (
        "location /api/v1/broker/ {\n            proxy_pass http://server-core-broker;"
        in text
    )


def test_supervisord_runs_each_instance_with_its_modules(tmp_path: Path) -> None:
    text = render_supervisord(_topology(), RunDir(tmp_path), _machine(tmp_path))

    program = text.split("[program:datafeed-8003]", 1)[1].split("\n[", 1)[0]
    assert "--host 127.0.0.1 --port 8003" in program
    assert 'ENABLED_MODULES="datafeed"' in program
    assert f'PYTHONPATH="{tmp_path / "src"}"' in program
    assert "autorestart=true" in program
    assert "[group:datafeed]\nprograms=datafeed-8002,datafeed-8003" in text


def test_merged_asyncapi_names_the_gateway_not_the_dev_default() -> None:
    document = {
        "asyncapi": "3.0.0",
        "servers": {
            "broker": {"host": "127.0.0.1:8000", "pathname": "/api/v1/broker"},
        },
    }
    served = served_at(document, "https://trading.example.test/edge")
    assert served["servers"]["broker"] == {
        "host": "trading.example.test",
        "protocol": "wss",
        "pathname": "/edge/api/v1/broker",
    }
    assert document["servers"]["broker"]["host"] == "127.0.0.1:8000"


def test_every_instance_gets_the_database_url_as_supervisord_reads_it(
    tmp_path: Path,
) -> None:
    from supervisor.options import ServerOptions

    run = RunDir(tmp_path / ".run" / "deploy")
    run.logs.mkdir(parents=True)
    path = tmp_path / "supervisord.conf"
    path.write_text(render_supervisord(_topology(), run, _machine(tmp_path)))
    options = ServerOptions()
    options.configfile = str(path)
    options.process_config(do_usage=False)

    urls = {
        process.name: process.environment.get("DATABASE_URL")
        for group in options.process_group_configs
        for process in group.process_configs
    }
    # The password's "%" and "," survive supervisord's own parsing.
    url = "postgresql://trader:s3cr%40t,x@127.0.0.1:5432/trading"
    assert urls == {
        "core-broker-8001": url,
        "datafeed-8002": url,
        "datafeed-8003": url,
        "nginx": None,
    }


def test_up_with_a_quote_in_database_url_exits_2_and_starts_nothing(
    tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text(GOOD)
    url = 'postgresql://trader:a"b@127.0.0.1:5432/trading'

    result = cli(ROOT, "up", "--config", str(config), env={"DATABASE_URL": url})

    assert result.code == 2
    assert "DATABASE_URL contains a quote character" in result.err
    assert "percent-encode it (%22" in result.err
    assert not (tmp_path / ".run").exists()


def test_up_refuses_two_broker_instances_on_sqlite_and_names_the_fix(
    tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text(
        GOOD + "  trading:\n    port: 8010\n    instances: 2\n    modules: [broker]\n"
    )
    sqlite = f"sqlite:///{tmp_path / 'trading.db'}"

    result = cli(ROOT, "up", "--config", str(config), env={"DATABASE_URL": sqlite})

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: deploy.yaml: servers.trading.instances: module 'broker' stores its "
        "state in SQL, and 2 instances cannot share the embedded SQLite database; "
        "set instances: 1, or set DATABASE_URL to a PostgreSQL database "
        "(postgresql://user:password@host/db)"
    ]
    assert not (tmp_path / ".run").exists()
    assert not (tmp_path / "trading.db").exists()
