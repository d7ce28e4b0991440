"""``trading new-module`` and ``remove-module`` as a developer runs them, on a
git-tracked copy of the project (never on this checkout)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trading_api.shared.testing import http_get, http_post

pytestmark = pytest.mark.usefixtures("remember_verdicts")  # see tests/conftest.py
ROOT = Path(__file__).resolve().parents[1]
MODULE = Path("src/trading_api/modules/market_data")
MERGED_OPENAPI = Path("src/trading_api/specs_generated/openapi.json")
MERGED_ASYNCAPI = Path("src/trading_api/specs_generated/asyncapi.json")
SKIPPED = {
    ".git",
    ".run",
    "__pycache__",
    "node_modules",
    ".pytest_cache",
    ".mypy_cache",
}
CopyProject = Callable[..., Path]
Git = Callable[..., str]
Cli = Callable[..., Any]


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the project and its bytes (git data and caches left out)."""
    files = {}
    for folder, dirs, names in os.walk(project):
        dirs[:] = [d for d in dirs if d not in SKIPPED and d != ".ruff_cache"]
        for name in names:
            path = Path(folder, name)
            files[path.relative_to(project).as_posix()] = path.read_bytes()
    return files


@dataclass
class Scaffolded:
    """One project copy with ``market-data`` made by new-module (not committed)."""

    root: Path
    before: dict[str, bytes]
    after_dry_run: dict[str, bytes]
    after: dict[str, bytes]
    dry_run: dict[str, Any]
    created: dict[str, Any]


@pytest.fixture(scope="module")
def scaffolded(
    project_copy: CopyProject,
    cli_once: Cli,
    remembered: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Scaffolded:
    """A project copy in git, with market-data made by new-module, the dry run
    and the real one in process (the console script's new-module, a process of
    its own, is what tests/test_scaffold_crash.py and
    tests/test_scaffold_concurrency.py kill and race)."""
    root = project_copy(tmp_path_factory.mktemp("scaffold") / "project", git=True)
    before = snapshot(root)
    args = ["new-module", "market-data", "--description", "Quotes and bars."]
    dry = cli_once(root, *args, "--dry-run", "--json")
    assert dry.code == 0, dry.err
    after_dry_run = snapshot(root)
    made = cli_once(root, *args, "--json", env=remembered, its_modules=True)
    assert made.code == 0, made.err
    return Scaffolded(
        root,
        before,
        after_dry_run,
        snapshot(root),
        json.loads(dry.out),
        json.loads(made.out),
    )


@pytest.fixture
def project(scaffolded: Scaffolded, tmp_path: Path) -> Path:
    """A private copy of the scaffolded project, git history included."""
    root = tmp_path / "project"
    shutil.copytree(
        scaffolded.root, root, ignore=shutil.ignore_patterns(*SKIPPED - {".git"})
    )
    return root


def test_json_names_module_package_and_mount_path(scaffolded: Scaffolded) -> None:
    result = scaffolded.created
    assert (result["module"], result["package"]) == ("market-data", "market_data")
    assert result["mount_path"] == "/api/v1/market-data"
    assert result["path"] == MODULE.as_posix()
    assert f"{MODULE}/ws_generated/items_router.py" in result["created"]
    assert result["updated"] == sorted([str(MERGED_ASYNCAPI), str(MERGED_OPENAPI)])


def test_json_lists_every_file_created(scaffolded: Scaffolded) -> None:
    new = set(scaffolded.after) - set(scaffolded.before)
    assert sorted(new) == scaffolded.created["created"]


def test_dry_run_writes_nothing(scaffolded: Scaffolded) -> None:
    assert scaffolded.after_dry_run == scaffolded.before


def test_dry_run_lists_what_new_module_then_creates(scaffolded: Scaffolded) -> None:
    dry, made = scaffolded.dry_run, scaffolded.created
    assert dry["dry_run"] is True
    assert (dry["created"], dry["updated"]) == (made["created"], made["updated"])


def test_rendered_module_tests_pass(
    market_data_project: Path, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    """The tests new-module writes pass in the module it makes: the run's
    shared market-data module, which tests/auth/test_template.py also finds an
    updated older module equal to, byte for byte."""
    result = cli(market_data_project, "test", "market-data", "--", "-q")
    pytest_output = capfd.readouterr().out  # pytest runs in a process of its own
    assert result.code == 0, pytest_output[-3000:] + result.err
    assert " passed" in pytest_output


def test_rendered_module_is_mypy_strict_and_ruff_clean(
    scaffolded: Scaffolded, mypy_cache: Callable[[Path], Path]
) -> None:
    module = scaffolded.root / MODULE
    files = [str(path) for path in sorted(module.rglob("*.py"))]  # tests too
    cache = mypy_cache(scaffolded.root / ".mypy_cache")
    for command in (
        ["ruff", "check", str(module)],
        ["ruff", "format", "--check", str(module)],
        ["mypy", "--strict", "--cache-dir", str(cache), *files],
    ):
        result = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=scaffolded.root,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYPATH": str(scaffolded.root / "src")},
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_and_specs_are_up_to_date(
    scaffolded: Scaffolded, cli: Cli
) -> None:
    # The new module's generated WS router imports it as
    # trading_api.modules.market_data, as the copy's own runtime has it.
    for command in (("specs", "build", "--check"), ("clients", "build", "--check")):
        result = cli(scaffolded.root, *command, its_modules=True)
        assert result.code == 0, result.out + result.err


def test_boundaries_hold_for_the_new_module(scaffolded: Scaffolded, cli: Cli) -> None:
    result = cli(scaffolded.root, "boundaries")
    assert result.code == 0, result.out + result.err


def test_merged_specs_include_the_new_module(scaffolded: Scaffolded) -> None:
    openapi = json.loads((scaffolded.root / MERGED_OPENAPI).read_text())
    asyncapi = json.loads((scaffolded.root / MERGED_ASYNCAPI).read_text())
    assert "/api/v1/market-data/items/{item_id}" in openapi["paths"]
    assert "market-data.items" in asyncapi["channels"]
    assert asyncapi["servers"]["market-data"]["pathname"] == "/api/v1/market-data"


def test_app_serves_the_new_module_over_rest_and_ws(
    scaffolded: Scaffolded,
    cli: Cli,
    its_runtime: Callable[[Path], AbstractContextManager[None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from websockets.sync.client import connect

    from trading_api.app_factory import AppFactory
    from trading_api.shared.auth.testing import bearer, dev_token
    from trading_api.shared.testing import serve

    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    migrated = cli(scaffolded.root, "db", "upgrade", env=database)
    assert "market-data: base -> 0001" in migrated.out.splitlines(), migrated.err
    monkeypatch.setenv("DATABASE_URL", database["DATABASE_URL"])
    auth = bearer(dev_token())  # the new module's routes are closed by default
    seen = []
    with its_runtime(scaffolded.root):
        factory = AppFactory(scaffolded.root / MODULE.parent)
        with serve(factory.create_app(["market-data"])) as url:
            ws_url = url.replace("http", "ws", 1) + "/api/v1/market-data/ws"
            with connect(ws_url, additional_headers=auth) as ws:
                subscribe = {"type": "items.subscribe", "payload": {}}
                ws.send(json.dumps(subscribe))
                seen.append(json.loads(ws.recv(timeout=10))["payload"]["status"])
                items = url + "/api/v1/market-data/items"
                item = http_post(items, json={"name": "x"}, headers=auth)
                listed = http_get(items, headers=auth).json()
                seen.append(f"{item.status_code} {listed}")
                pushed = json.loads(ws.recv(timeout=10))["payload"]["payload"]
                seen.append(pushed["action"])
    assert seen == ["ok", "201 [{'id': 1, 'name': 'x'}]", "created"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["market_data"], "did you mean 'market-data'?"),
        (["1st-feed"], "starts with a digit"),
        (["class"], "Python keyword"),
        (["core", "--force"], "built-in module"),
        (["shared"], "reserved"),
        (["models"], "reserved"),
        (["datafeed"], "already exists; pick another name"),
        (["market-data"], "remove it first with `trading remove-module market-data`"),
        (["feeds/fx"], "looks like a path"),
        (["../evil"], "looks like a path"),
        (["Market-Data"], "not kebab-case"),
        (["a" * 31], "keep it to 30"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else "",
)
def test_invalid_name_is_refused_and_changes_nothing(
    scaffolded: Scaffolded, args: list[str], message: str, cli: Cli
) -> None:
    before = snapshot(scaffolded.root)
    result = cli(scaffolded.root, "new-module", *args)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert snapshot(scaffolded.root) == before


def test_invalid_description_is_refused(scaffolded: Scaffolded, cli: Cli) -> None:
    before = snapshot(scaffolded.root)
    result = cli(scaffolded.root, "new-module", "notes", "--description", " ")
    assert result.code == 2
    assert "description is empty" in result.err
    assert snapshot(scaffolded.root) == before


def test_new_then_remove_restores_the_tree_byte_for_byte(
    project: Path, scaffolded: Scaffolded, cli: Cli, git: Git
) -> None:
    result = cli(project, "remove-module", "market-data", "--yes")
    assert result.code == 0, result.err
    assert "drop them with: trading db drop market-data" in result.out
    assert snapshot(project) == scaffolded.before
    assert git(project, "status", "--porcelain") == ""


def test_remove_refuses_hand_edited_files(project: Path, cli: Cli) -> None:
    with (project / MODULE / "service.py").open("a") as service:
        service.write("# a local change\n")
    before = snapshot(project)
    result = cli(project, "remove-module", "market-data", "--yes")
    assert result.code == 1
    assert "service.py edited" in result.err
    assert "pass --force" in result.err
    assert snapshot(project) == before


def test_remove_refuses_files_added_by_hand(project: Path, cli: Cli) -> None:
    (project / MODULE / "notes.md").write_text("design notes\n")
    before = snapshot(project)
    result = cli(project, "remove-module", "market-data", "--yes")
    assert result.code == 1
    assert "notes.md added" in result.err
    assert snapshot(project) == before


def test_remove_force_deletes_hand_made_changes_too(
    project: Path, scaffolded: Scaffolded, cli: Cli
) -> None:
    (project / MODULE / "notes.md").write_text("design notes\n")
    (project / MODULE / "api.py").write_text("# rewritten\n")
    result = cli(project, "remove-module", "market-data", "--yes", "--force")
    assert result.code == 0, result.err
    assert snapshot(project) == scaffolded.before


def test_remove_without_yes_or_terminal_is_refused(
    scaffolded: Scaffolded, cli: Cli
) -> None:
    before = snapshot(scaffolded.root)
    result = cli(scaffolded.root, "remove-module", "market-data")
    assert result.code == 2
    assert "pass --yes" in result.err
    assert snapshot(scaffolded.root) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("core", "built in and cannot be removed"),
        ("datafeed", "was not made by `trading new-module`"),
        ("order-book", "unknown module 'order-book'; known modules: core,"),
    ],
)
def test_remove_refuses_modules_it_did_not_make(
    scaffolded: Scaffolded, name: str, message: str, cli: Cli
) -> None:
    before = snapshot(scaffolded.root)
    result = cli(scaffolded.root, "remove-module", name, "--yes", "--force")
    assert result.code == 2
    assert message in result.err
    assert snapshot(scaffolded.root) == before


def test_failure_mid_render_leaves_nothing_behind(project: Path, cli: Cli) -> None:
    template = project / "templates/module/template"
    (template / "zz_broken.py.jinja").write_text("{{ no_such_answer.attribute }}\n")
    before = snapshot(project)
    result = cli(project, "new-module", "order-book")
    assert result.code == 1
    assert "rendering templates/module failed" in result.err
    assert snapshot(project) == before


def test_failure_in_generation_rolls_everything_back(project: Path, cli: Cli) -> None:
    """The client builder refuses cookie parameters: by then the module folder
    is in place and the merged specs are rewritten, and all of it must go."""
    api = project / "templates/module/template/api.py.jinja"
    route = textwrap.indent(
        textwrap.dedent(
            """
            @router.get("/session")
            async def session(token: str | None = Cookie(None)) -> str:
                return token or ""
            """
        ),
        "    ",
    )
    source = api.read_text().replace("APIRouter, HTTP", "APIRouter, Cookie, HTTP")
    end = "\n    return router\n"
    api.write_text(source.replace(end, route + end))
    before = snapshot(project)
    result = cli(project, "new-module", "order-book", its_modules=True)
    assert result.code == 1
    assert "so nothing was changed" in result.err
    assert "cookie" in result.err.lower()
    assert snapshot(project) == before


def run_in_terminal(project: Path, args: list[str], answers: list[str]) -> str:
    """Run ``trading`` on a pseudo-terminal, typing ``answers`` one per prompt
    (each prompt ends in ': '); return everything it printed."""
    import pty
    import select

    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "trading_cli.main", *args],
        cwd=project,
        stdin=child,
        stdout=child,
        stderr=child,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    os.close(child)
    output, pending = b"", list(answers)
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:  # bounded: a hung prompt fails the test instead of the run
            process.kill()
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if pending and output.rstrip().endswith(b":"):
            os.write(main, pending.pop(0).encode() + b"\n")
    process.wait(timeout=60)
    os.close(main)
    return output.decode(errors="replace").replace("\r\n", "\n")


def test_terminal_prompts_for_what_flags_left_out(scaffolded: Scaffolded) -> None:
    output = run_in_terminal(
        scaffolded.root, ["new-module", "notes", "--dry-run"], ["Desk notes.", "n"]
    )
    assert "Description [The notes module.]:" in output
    assert "Add a WebSocket route? [Y/n]:" in output
    assert "Would create module notes" in output
    assert "notes/ws.py" not in output


def test_terminal_remove_asks_and_keeps_the_module_on_no(
    scaffolded: Scaffolded,
) -> None:
    before = snapshot(scaffolded.root)
    output = run_in_terminal(scaffolded.root, ["remove-module", "market-data"], ["n"])
    assert "Delete module market-data (" in output
    assert "Nothing removed." in output
    assert snapshot(scaffolded.root) == before


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ("api_prefix: 5\n", "api_prefix must be text (got 5)"),
        ("api_prefix: /api/v2\n", "api_prefix is '/api/v2' but the backend mounts"),
        ("root_package: other\n", "root_package is 'other'"),
        ("api_prefx: /api/v1\n", "unknown key 'api_prefx'"),
        ("author: a\nauthor: b\n", "line 2, column 1: duplicate key 'author'"),
        ("author: [x\n", ".copier-answers.yml: line 2, column 1:"),
        ("author: 'x\"y'\n", "author must be 1 to 60 characters"),
    ],
    ids=["int", "prefix", "package", "typo", "duplicate", "syntax", "quote"],
)
def test_bad_project_answers_are_refused_before_rendering(
    project_copy: CopyProject, cli: Cli, tmp_path: Path, answers: str, message: str
) -> None:
    root = project_copy(tmp_path / "project")
    (root / ".copier-answers.yml").write_text(answers)
    before = snapshot(root)
    result = cli(root, "new-module", "notes", "--description", "Notes.")
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert snapshot(root) == before
