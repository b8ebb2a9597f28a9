"""The layer rules of docs/design.md hold: the import-linter contracts in pyproject.toml pass, and
they catch a violation; the tree keeps one name per module and a small package root."""

from __future__ import annotations

import ast
import collections
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("sambamotr_jax", "data_pipeline", "kernels", "configs")
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_import_contracts_are_kept():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_an_evaluation_module_importing_the_model_breaks_the_contract(tmp_path):
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    teta = tmp_path / "sambamotr_jax" / "evaluation" / "teta.py"
    teta.write_text(teta.read_text() + "\nfrom sambamotr_jax import model  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert (
        "Evaluation scores results: it imports no model, tracker or weights BROKEN" in done.stdout
    )
    assert "sambamotr_jax.evaluation.teta -> sambamotr_jax.model" in done.stdout


def _modules(package: str) -> list[pathlib.Path]:
    return [p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts]


def test_no_two_modules_share_a_file_name():
    names = collections.defaultdict(list)
    for package in PACKAGES:
        for path in _modules(package):
            if path.name not in ("__init__.py", "__main__.py"):
                names[path.name].append(str(path.relative_to(REPO)))
    shared = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not shared, shared


def test_package_root_holds_at_most_ten_modules():
    root = sorted(p.name for p in (REPO / "sambamotr_jax").glob("*.py"))
    assert len(root) <= 10, root


def test_every_package_says_what_lives_there_and_what_it_may_import():
    for package in PACKAGES:
        for init in (REPO / package).rglob("__init__.py"):
            doc = ast.get_docstring(ast.parse(init.read_text()))
            assert doc, f"{init.relative_to(REPO)} has no docstring"
            if init.parent != REPO / "configs":
                assert "import" in doc.lower(), f"{init.relative_to(REPO)}: say what it may import"


def test_design_doc_names_every_module():
    design = (REPO / "docs" / "design.md").read_text()
    unnamed = [
        str(path.relative_to(REPO))
        for package in PACKAGES
        if package != "configs"
        for path in _modules(package)
        if path.name != "__init__.py" and str(path.relative_to(REPO)) not in design
    ]
    assert not unnamed, f"docs/design.md does not name {unnamed}"
