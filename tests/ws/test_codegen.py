"""WS router generation from ws.py: files, determinism, staleness, importability."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_api.shared.artifacts import header_line
from trading_api.shared.errors import GeneratedCodeError
from trading_api.shared.ws import ConflateByKey, ConflateByTopic, Lossless
from trading_api.shared.ws.declarations import WsDeclarationError, route_for
from trading_api.shared.ws.generated import check_ws_generated
from trading_cli.build.ws_routers import (
    render_ws_routers,
    write_ws_routers,
    ws_router_paths,
)

MODELS = """
from pydantic import BaseModel


class BarsRequest(BaseModel):
    symbol: str


class Bar(BaseModel):
    close: float


class ConnectionStatus(BaseModel):
    up: bool
"""

WS = '''"""WebSocket routes of the demo module."""

from typing import TypeAlias

from pydantic import BaseModel

from trading_api.shared.ws import WsRouter

from .models import Bar, BarsRequest
from . import models


class Empty(BaseModel):
    """A request model defined in ws.py itself."""


BarsRouter: TypeAlias = WsRouter[BarsRequest, Bar]
BrokerConnectionRouter: TypeAlias = WsRouter[Empty, models.ConnectionStatus]
'''


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    """A module package ``demo_pkg.demo_mod`` importable from ``tmp_path``."""
    package = tmp_path / "demo_pkg"
    module = package / "demo_mod"
    module.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    # A project of its own, as a real one is: ruff reads its settings from here,
    # and the backend package is the project's own (first party).
    (tmp_path / "pyproject.toml").write_text(
        "[tool.ruff]\nline-length = 88\n"
        '[tool.ruff.lint]\nselect = ["E", "F", "I"]\n'
        '[tool.ruff.lint.isort]\nknown-first-party = ["trading_api"]\n'
    )
    (module / "__init__.py").write_text("")
    (module / "models.py").write_text(MODELS)
    (module / "ws.py").write_text(WS)
    sys.path.insert(0, str(tmp_path))
    yield module
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("demo_pkg")]:
        del sys.modules[name]


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.py"))}


def test_one_file_per_alias_plus_init_each_with_header(module_dir: Path) -> None:
    written = write_ws_routers(module_dir)

    out = module_dir / "ws_generated"
    assert [p.name for p in written] == [
        "__init__.py",
        "bars_router.py",
        "broker_connection_router.py",
    ]
    for text in snapshot(out).values():
        assert text.splitlines()[0] == header_line("trading specs build")
        assert text.splitlines()[1].startswith("# ws.py fingerprint: ")


def test_generation_is_deterministic_and_a_second_run_writes_nothing(
    module_dir: Path,
) -> None:
    write_ws_routers(module_dir)
    first = snapshot(module_dir / "ws_generated")
    rendered = {p.name: text for p, text in render_ws_routers(module_dir).items()}

    assert write_ws_routers(module_dir) == []
    assert snapshot(module_dir / "ws_generated") == first == rendered


def test_generated_classes_import_and_carry_route_and_models(module_dir: Path) -> None:
    write_ws_routers(module_dir)

    generated = importlib.import_module("demo_pkg.demo_mod.ws_generated")
    models = importlib.import_module("demo_pkg.demo_mod.models")
    ws = importlib.import_module("demo_pkg.demo_mod.ws")
    service = object()
    bars = generated.BarsRouter(service)
    broker = generated.BrokerConnectionRouter(service)

    assert generated.__all__ == ["BarsRouter", "BrokerConnectionRouter"]
    assert (bars.route, bars.request_model, bars.data_model) == (
        "bars",
        models.BarsRequest,
        models.Bar,
    )
    assert broker.route == "broker-connection"
    assert broker.request_model is ws.Empty
    assert broker.data_model is models.ConnectionStatus
    assert bars.service is service


def test_generated_file_reads_like_hand_written_code(module_dir: Path) -> None:
    write_ws_routers(module_dir)

    text = (module_dir / "ws_generated" / "bars_router.py").read_text()
    # Relative imports of ws.py resolve from ws_generated/ as absolute ones.
    assert "from demo_pkg.demo_mod.models import Bar, BarsRequest\n" in text
    assert "class BarsRouter(WsRouter[BarsRequest, Bar]):\n" in text
    assert '    route = "bars"\n' in text


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not on PATH")
def test_generated_files_pass_ruff_format_and_lint(module_dir: Path) -> None:
    write_ws_routers(module_dir)
    out = str(module_dir / "ws_generated")

    # The project's settings, minus the lazy-import ban that src/ is exempt from.
    root = Path(__file__).parents[2]
    fmt = subprocess.run(
        ["ruff", "format", "--check", out], capture_output=True, cwd=root
    )
    lint = subprocess.run(
        ["ruff", "check", "--ignore", "TID253", out], capture_output=True, cwd=root
    )

    assert fmt.returncode == 0, fmt.stdout.decode() + fmt.stderr.decode()
    assert lint.returncode == 0, lint.stdout.decode()


DELIVERIES = """
from typing import Annotated

from trading_api.shared.ws import ConflateByKey, ConflateByTopic, Lossless

KeyedRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar], ConflateByKey("close")]
LatestRouter: TypeAlias = Annotated[
    WsRouter[BarsRequest, Bar], ConflateByTopic()
]
JournalRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar], Lossless()]
"""


def test_declared_delivery_class_reaches_the_generated_class(
    module_dir: Path,
) -> None:
    (module_dir / "ws.py").write_text(WS + DELIVERIES)
    write_ws_routers(module_dir)

    generated = importlib.import_module("demo_pkg.demo_mod.ws_generated")
    text = (module_dir / "ws_generated" / "keyed_router.py").read_text()

    assert '    delivery = ConflateByKey("close")\n' in text
    assert generated.KeyedRouter.delivery == ConflateByKey("close")
    assert generated.LatestRouter.delivery == ConflateByTopic()
    assert generated.JournalRouter.delivery == Lossless()
    assert generated.BarsRouter.delivery == Lossless()  # undeclared: the default


def test_changing_the_delivery_class_makes_the_output_stale(
    module_dir: Path,
) -> None:
    (module_dir / "ws.py").write_text(WS + DELIVERIES)
    write_ws_routers(module_dir)
    ws = module_dir / "ws.py"
    ws.write_text(ws.read_text().replace('ConflateByKey("close")', "Lossless()"))

    with pytest.raises(GeneratedCodeError, match=r"keyed_router\.py is out of date"):
        check_ws_generated(module_dir)


def test_key_field_the_data_model_lacks_fails_when_the_route_is_built(
    module_dir: Path,
) -> None:
    (module_dir / "ws.py").write_text(
        WS + DELIVERIES.replace('ConflateByKey("close")', 'ConflateByKey("id")')
    )
    write_ws_routers(module_dir)
    generated = importlib.import_module("demo_pkg.demo_mod.ws_generated")

    with pytest.raises(TypeError, match=r"KeyedRouter: .*Bar has no field 'id'"):
        generated.KeyedRouter(object())


def test_removed_alias_loses_its_file(module_dir: Path) -> None:
    write_ws_routers(module_dir)
    ws = module_dir / "ws.py"
    ws.write_text(ws.read_text().replace("BrokerConnectionRouter: TypeAlias", "# "))

    changed = write_ws_routers(module_dir)

    assert {p.name for p in changed} == {"__init__.py", "broker_connection_router.py"}
    assert sorted(snapshot(module_dir / "ws_generated")) == [
        "__init__.py",
        "bars_router.py",
    ]


def test_syntax_error_raises_and_deletes_nothing(module_dir: Path) -> None:
    write_ws_routers(module_dir)
    before = snapshot(module_dir / "ws_generated")
    (module_dir / "ws.py").write_text("BarsRouter: TypeAlias = WsRouter[\n")

    with pytest.raises(WsDeclarationError, match=r"ws\.py line \d+"):
        write_ws_routers(module_dir)
    assert snapshot(module_dir / "ws_generated") == before


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        ("XRouter: TypeAlias = WsRouter[Missing, Bar]", "neither imported nor defined"),
        ("XRouter: TypeAlias = WsRouter[Bar]", "two type arguments"),
        ("Feed: TypeAlias = WsRouter[BarsRequest, Bar]", "must end with 'Router'"),
        ("XRouter: TypeAlias = list[Bar]", "must be WsRouter"),
        (
            "XRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar], Fast()]",
            "must be one of ConflateByKey, ConflateByTopic, Lossless",
        ),
        (
            "XRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar], "
            "ConflateByKey(KEY)]",
            "string literals, got KEY",
        ),
        (
            "XRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar], "
            "ConflateByKey()]",
            "ConflateByKey needs field names",
        ),
        (
            "XRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar], "
            'Lossless("id")]',
            "XRouter: .*argument",
        ),
        (
            "XRouter: TypeAlias = Annotated[WsRouter[BarsRequest, Bar]]",
            r"must be Annotated\[WsRouter",
        ),
    ],
)
def test_bad_declaration_is_a_clear_error(
    module_dir: Path, declaration: str, problem: str
) -> None:
    (module_dir / "ws.py").write_text(WS + declaration + "\n")

    with pytest.raises(WsDeclarationError, match=problem):
        render_ws_routers(module_dir)


def test_check_passes_on_fresh_output_and_ignores_comment_edits(
    module_dir: Path,
) -> None:
    write_ws_routers(module_dir)
    ws = module_dir / "ws.py"
    ws.write_text("# a comment that changes nothing generated\n" + ws.read_text())

    check_ws_generated(module_dir)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda ws: ws.replace("WsRouter[BarsRequest, Bar]", "WsRouter[Bar, Bar]"),
            "bars_router.py is out of date",
        ),
        (
            lambda ws: ws + "QuotesRouter: TypeAlias = WsRouter[BarsRequest, Bar]\n",
            "quotes_router.py is missing",
        ),
        (
            lambda ws: ws.replace("BrokerConnectionRouter: TypeAlias", "# "),
            "broker_connection_router.py has no declaration left",
        ),
        (lambda ws: ws + "oops(\n", "ws.py line"),
    ],
    ids=["changed-types", "added-alias", "removed-alias", "syntax-error"],
)
def test_check_names_module_problem_and_command_in_one_line(
    module_dir: Path, edit: object, problem: str
) -> None:
    write_ws_routers(module_dir)
    ws = module_dir / "ws.py"
    ws.write_text(edit(ws.read_text()))  # type: ignore[operator]

    with pytest.raises(GeneratedCodeError) as error:
        check_ws_generated(module_dir)

    message = str(error.value)
    assert "\n" not in message
    assert problem in message
    assert "demo-mod" in message
    assert "`trading specs build`" in message


def test_check_reports_missing_generated_folder(module_dir: Path) -> None:
    with pytest.raises(GeneratedCodeError, match=r"ws_generated/ is missing"):
        check_ws_generated(module_dir)


def test_check_skips_a_module_that_declares_no_ws_routes(module_dir: Path) -> None:
    # The same module fails the check while it has ws.py (see above); without
    # ws.py it serves no WS routes, so there is nothing to be stale.
    (module_dir / "ws.py").unlink()

    check_ws_generated(module_dir)

    assert not (module_dir / "ws_generated").exists()


def test_check_reports_a_hand_edited_fingerprint(module_dir: Path) -> None:
    write_ws_routers(module_dir)
    bars = module_dir / "ws_generated" / "bars_router.py"
    header, _, rest = bars.read_text().split("\n", 2)
    bars.write_text(f"{header}\n# ws.py fingerprint: 0000000000000000\n{rest}")

    with pytest.raises(GeneratedCodeError, match=r"bars_router\.py is out of date"):
        check_ws_generated(module_dir)


def test_write_skips_rendering_while_fingerprints_match(module_dir: Path) -> None:
    write_ws_routers(module_dir)
    bars = module_dir / "ws_generated" / "bars_router.py"
    bars.write_text(bars.read_text() + "# a note\n")

    assert write_ws_routers(module_dir) == []
    assert write_ws_routers(module_dir, force=True) == [bars]


def test_paths_are_known_without_rendering(module_dir: Path) -> None:
    assert sorted(ws_router_paths(module_dir)) == sorted(render_ws_routers(module_dir))


@pytest.mark.parametrize(
    ("alias", "route"),
    [
        ("BarsRouter", "bars"),
        ("BrokerConnectionRouter", "broker-connection"),
        ("OHLCBarsRouter", "ohlc-bars"),
        ("Level2Router", "level2"),
    ],
)
def test_route_is_the_kebab_case_alias_without_router(alias: str, route: str) -> None:
    assert route_for(alias) == route
