"""The module template (``templates/module/``): its versions and its renders.

A render is copier's ``run_copy`` into a fresh folder, then ``ruff format`` and
``ruff check --fix`` on the Python files (so very long module names still give
formatted code; typical names render formatted already), then the hash manifest
appended to the module's answers file.

Versions are git commits of ``templates/module``. The template lives in a
subfolder of the project repository, where copier cannot find versions by itself
(it only versions a template at a repository root), so an old version is read
with ``git archive`` into a temporary folder and rendered from there.
"""

import io
import shutil
import subprocess
import sysconfig
import tarfile
from pathlib import Path

from trading_cli.errors import CliError, UsageError
from trading_cli.project import Project
from trading_cli.scaffold.answers import (
    ANSWERS_FILE,
    TEMPLATE_SRC,
    ModuleAnswers,
    hash_files,
    is_commit,
    manifest_block,
)


class ModuleTemplate:
    """``templates/module/`` of one project."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = project.root / TEMPLATE_SRC

    def require(self) -> None:
        """Raise unless the template exists."""
        if not (self.path / "copier.yml").is_file():
            raise CliError(
                f"{TEMPLATE_SRC}/copier.yml is missing; restore {TEMPLATE_SRC} from git"
            )

    def commit(self) -> str | None:
        """The last commit that changed the template; None outside git or if never
        committed."""
        out = self._git("log", "-1", "--format=%H", "--", TEMPLATE_SRC, check=False)
        return out.strip() or None

    def is_dirty(self) -> bool:
        """Whether the template has changes that are not committed."""
        out = self._git(
            "status", "--porcelain", "--untracked-files=all", "--", TEMPLATE_SRC
        )
        return bool(out.strip())

    def is_git_repo(self) -> bool:
        """Whether the project is a git work tree."""
        out = self._git("rev-parse", "--is-inside-work-tree", check=False)
        return out.strip() == "true"

    def export(self, commit: str, into: Path) -> Path:
        """Write the template as it was at ``commit`` under ``into``; return its path.

        Raises:
            UsageError: ``commit`` is not a full commit id.
            CliError: git does not have that commit (e.g. a shallow clone).
        """
        if not is_commit(commit):  # never let a file's value become an option
            raise UsageError(f"{commit!r} is not a full git commit (40 hex digits)")
        result = subprocess.run(
            # Without "--": after --end-of-options, git archive reads it as a path.
            [
                "git",
                "archive",
                "--format=tar",
                "--end-of-options",
                commit,
                TEMPLATE_SRC,
            ],
            cwd=self.project.root,
            capture_output=True,
        )
        if result.returncode != 0:
            raise CliError(
                f"cannot read {TEMPLATE_SRC} at commit {commit[:12]} "
                f"({_last_line(result.stderr.decode(errors='replace'))}); fetch the "
                "full history (git fetch --unshallow) and retry"
            )
        with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
            archive.extractall(into, filter="data")
        return into / TEMPLATE_SRC

    def render(
        self,
        answers: ModuleAnswers,
        dest: Path,
        *,
        commit: str | None,
        source: Path | None = None,
    ) -> dict[str, str]:
        """Render the module package into ``dest`` (which must not exist yet).

        ``source`` renders another copy of the template (an old version); the
        default is the working tree. Returns the hash manifest, which is also
        appended to the rendered answers file.

        Raises:
            UsageError: copier refused an answer (its validator says why).
            CliError: the template failed to render.
        """
        from copier import run_copy

        try:
            run_copy(
                str(source or self.path),
                dest,
                data=answers.data(commit),
                defaults=True,
                overwrite=True,
                quiet=True,
                # The template loads the project's own Jinja extension
                # (trading_cli.template_extension); tasks stay skipped.
                unsafe=True,
                skip_tasks=True,
            )
        except Exception as exc:
            if isinstance(exc, ValueError) and str(exc).startswith("Validation error"):
                raise UsageError(_last_line(str(exc))) from None
            raise CliError(
                f"rendering {TEMPLATE_SRC} failed: {type(exc).__name__}: "
                f"{_last_line(str(exc))}; fix the template and retry"
            ) from exc
        self._format(dest, answers.root_package)
        manifest = hash_files(dest)
        answers_file = dest / ANSWERS_FILE
        with answers_file.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(manifest_block(manifest))
        return manifest

    def _format(self, folder: Path, root_package: str) -> None:
        """Format and sort imports like the project's own code, if ruff is here."""
        files = sorted(str(path) for path in folder.rglob("*.py"))
        ruff = _ruff()
        if not files or ruff is None:
            return
        # The module is not in the source tree yet, so tell ruff that imports of
        # it are first-party, as they will be once it is.
        first_party = f'lint.isort.known-first-party = ["{root_package}"]'
        config = ["--config", str(self.project.root / "pyproject.toml")]
        config += ["--config", first_party]
        for command in (
            ["format", "--quiet", "--no-cache"],
            ["check", "--quiet", "--no-cache", "--fix", "--select", "I"],
        ):
            subprocess.run(
                [ruff, *command, *config, *files],
                capture_output=True,
                cwd=self.project.root,
                check=False,
            )

    def _git(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.project.root,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 and check:
            raise CliError(
                f"git {args[0]} failed: {_last_line(result.stderr)}; "
                "run it from a git checkout of the project"
            )
        return result.stdout if result.returncode == 0 else ""


def _ruff() -> str | None:
    """The ruff binary of this environment, else on PATH. Run directly:
    ``python -m ruff`` would cost one more Python start."""
    installed = Path(sysconfig.get_path("scripts")) / "ruff"
    return str(installed) if installed.is_file() else shutil.which("ruff")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no detail"
