"""The published OpenAPI documents through the third-party tools users run.

Each module's document and the merged one, as ``trading specs build`` commits
them, go through two client generators (openapi-python-client and
openapi-typescript), which must generate without a warning about the document
and name enum members (``OrderType.LIMIT``, ``Side.SELL``), and two linters
(Spectral with ``spectral:oas``, Redocly with ``recommended``), which must find
nothing, warnings included. Their configuration is the project's own
(``.spectral.yaml``, ``redocly.yaml``), so running a tool by hand agrees.
"""

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MERGED = ROOT / "src/trading_api/specs_generated/openapi.json"
DOCUMENTS = {
    "merged": MERGED,
    **{
        path.parent.parent.name: path
        for path in sorted(ROOT.glob("src/trading_api/modules/*/specs_generated/*"))
        if path.name.endswith("_openapi.json")
    },
}
PYTHON_ENUMS = {
    "merged": {
        "order_type.py": ["LIMIT = 1", "STOP_LIMIT = 4"],
        "side.py": ["BUY = 1", "SELL = -1"],
        "resolution.py": ['DAY_1 = "1D"'],
    },
    "broker": {
        "order_type.py": ["LIMIT = 1", "MARKET = 2"],
        "side.py": ["SELL = -1"],
        "time_in_force.py": ['GTC = "GTC"'],
    },
    "datafeed": {"resolution.py": ['MINUTE_1 = "1"', 'MONTH_1 = "1M"']},
    "core": {"health_status_status.py": ['UNHEALTHY = "unhealthy"']},
    "auth": {},  # no enums: generated without warnings is the check
}
"""Enum members each generated Python client must name, by model file."""
TYPESCRIPT_ENUMS = {
    "merged": ["export enum OrderType {", "LIMIT = 1,", "SELL = -1"],
    "broker": ["export enum Side {", "SELL = -1", "export enum TimeInForce {"],
    "datafeed": ["export enum Resolution {", 'DAY_1 = "1D"'],
    "core": ["export enum HealthStatusStatus {"],
    "auth": [],
}
"""What each generated TypeScript file must declare (``--enum``)."""


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def test_every_module_and_the_merged_document_are_checked() -> None:
    assert {"merged", "core", "broker", "datafeed"} <= set(DOCUMENTS)
    assert set(PYTHON_ENUMS) == set(TYPESCRIPT_ENUMS) == set(DOCUMENTS)


@pytest.mark.requires("openapi-python-client")
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_openapi_python_client_generates_named_enums_without_warnings(
    name: str, tmp_path: Path
) -> None:
    # Its own command line, run in this process: the tool loads once per file.
    from openapi_python_client.cli import app
    from typer.testing import CliRunner

    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is what it is
    out = tmp_path / "client"
    arguments = ["--path", DOCUMENTS[name], "--output-path", out, "--config", config]
    generated = CliRunner().invoke(
        app,
        ["generate", *map(str, arguments), "--meta", "none"],
        env={"NO_COLOR": "1"},
    )
    said = generated.output
    assert generated.exit_code == 0, said + repr(generated.exception)
    assert "warning" not in said.lower(), said
    for filename, members in PYTHON_ENUMS[name].items():
        code = (out / "models" / filename).read_text()
        assert "Enum):" in code, code
        for member in members:
            assert f"    {member}\n" in code, (filename, member, code)
        assert "VALUE_" not in code


@dataclass
class Generated:
    """What openapi-typescript printed while generating one document, whether it
    failed, and the TypeScript it wrote."""

    said: list[str]
    failed: str | None
    output: Path


@pytest.fixture(scope="module")
def typescript(
    optional_tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Generated]:
    """openapi-typescript ``--enum`` over every document, in one Node process
    (``openapi_typescript_each.mjs``: the CLI's own generation, document by
    document, with what it printed about each)."""
    optional_tool("openapi-typescript")
    out = tmp_path_factory.mktemp("typescript")
    jobs = [
        {"document": str(DOCUMENTS[name]), "output": str(out / f"{name}.ts")}
        for name in DOCUMENTS
    ]
    ran = subprocess.run(
        ["node", Path(__file__).with_name("openapi_typescript_each.mjs"), ROOT],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)
    return {
        name: Generated(result["said"], result["failed"], Path(job["output"]))
        for name, job, result in zip(DOCUMENTS, jobs, results, strict=True)
    }


@pytest.mark.requires("openapi-typescript")
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_openapi_typescript_generates_named_enums_without_warnings(
    name: str, typescript: dict[str, Generated]
) -> None:
    generated = typescript[name]
    said = "\n".join(generated.said)
    assert generated.failed is None, f"{generated.failed}\n{said}"
    # Anything it says while generating is a complaint about the document.
    assert [line for line in generated.said if line.strip()] == [], said
    code = generated.output.read_text()
    for declaration in TYPESCRIPT_ENUMS[name]:
        assert declaration in code, declaration


@pytest.mark.requires("spectral")
def test_spectral_finds_nothing_in_any_document() -> None:
    linted = run(
        ROOT / "node_modules/.bin/spectral",
        "lint",
        "--ruleset",
        ROOT / ".spectral.yaml",
        "--format",
        "json",
        "--quiet",
        *DOCUMENTS.values(),
    )
    problems = json.loads(linted.stdout or "[]")
    assert problems == [], json.dumps(problems, indent=1)[:4000]
    assert linted.returncode == 0, linted.stderr


@pytest.mark.requires("redocly")
def test_redocly_finds_nothing_in_any_document() -> None:
    linted = run(
        ROOT / "node_modules/.bin/redocly",
        "lint",
        "--config",
        ROOT / "redocly.yaml",
        "--format",
        "json",
        *DOCUMENTS.values(),
    )
    reports = list(_json_objects(linted.stdout))
    assert len(reports) == len(DOCUMENTS), linted.stdout + linted.stderr
    for report in reports:
        assert report["totals"]["errors"] == 0, report["problems"]
        assert report["totals"]["warnings"] == 0, report["problems"]
    assert linted.returncode == 0, linted.stderr


def _json_objects(text: str) -> list[Any]:
    """The JSON values written one after another in ``text``."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found
