"""The console scripts of pyproject.toml `[project.scripts]`: after `pip install -e .` each is in
the environment's bin folder and answers `--help` with status 0; `python train.py`,
`python eval.py` and the `python -m` forms keep working.

Without the install (an environment installed before the scripts existed) the script tests skip
and say so, except under CI=true, where a missing script is an error.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
SCRIPTS = {
    "sambamotr-train": "sambamotr_jax.train_cli:run",
    "sambamotr-eval": "sambamotr_jax.eval_cli:run",
    "sambamotr-convert": "sambamotr_jax.convert:run",
    "sambamotr-track": "sambamotr_jax.track:run",
    "sambamotr-demo": "sambamotr_jax.demo:run",
    "sambamotr-export": "sambamotr_jax.export:run",
    "sambamotr-serve": "sambamotr_jax.serve:run",
}


def _help(command: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))  # this checkout's code
    return subprocess.run(
        [*command, "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_pyproject_declares_the_scripts():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == SCRIPTS


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_script_answers_help(script):
    module, function = SCRIPTS[script].split(":")
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not in this checkout yet (its entry point `{function}` is)")
    path = BIN / script
    if not path.exists():
        message = f"{path} not found: install the package with `pip install -e .`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    proc = _help([str(path)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The module's usage text (read, not imported: importing defines its flags here).
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    assert ast.get_docstring(ast.parse(source)).splitlines()[0] in proc.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["train.py"],
        ["eval.py"],
        ["-m", "sambamotr_jax.train_cli"],
        ["-m", "sambamotr_jax.track"],
    ],
    ids=" ".join,
)
def test_script_and_module_forms_answer_help(command):
    proc = _help([sys.executable, *command])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--config" in proc.stdout
