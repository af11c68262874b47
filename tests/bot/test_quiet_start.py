"""The servers' start-up filters (bot/quiet_start): a dependency's deprecation and future-change warnings stay
out of the output, while warnings from our own packages and errors still reach the operator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.training import quiet_env


def run_python(code: str, cwd: Path, quiet: bool) -> str:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    if quiet:
        env = quiet_env(env)
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def test_dependency_warnings_are_hidden_and_ours_still_show(tmp_path: Path) -> None:
    # A stand-in for a third-party package that warns when imported, as TensorFlow and sanic do.
    (tmp_path / "somedependency.py").write_text("import warnings\nwarnings.warn('old thing', FutureWarning)\n")
    code = (
        "import warnings\n"
        "import somedependency\n"
        "warnings.warn_explicit('our own warning', FutureWarning, 'bot/stack.py', 1, module='bot.stack')\n"
        "raise SystemExit('an error of ours')\n"
    )
    noisy = run_python(code, tmp_path, quiet=False)
    assert "old thing" in noisy and "our own warning" in noisy  # the stand-in does warn without the filters

    quiet = run_python(code, tmp_path, quiet=True)
    assert "old thing" not in quiet
    assert "our own warning" in quiet
    assert "an error of ours" in quiet


def test_a_dependency_that_turns_its_own_warnings_back_on_stays_quiet(tmp_path: Path) -> None:
    """Some dependencies insert their own filter at the front while importing (sanic's chain adds
    ("once", DeprecationWarning)); what they warn about from an installed package still stays hidden."""
    installed = tmp_path / "lib" / "site-packages"
    installed.mkdir(parents=True)
    (installed / "loudpackage.py").write_text(
        "import warnings\n"
        "warnings.filterwarnings('once', category=DeprecationWarning)\n"
        "warnings.warn('distutils Version classes are deprecated', DeprecationWarning)\n"
    )
    code = (
        f"import sys; sys.path.insert(0, {str(installed)!r})\n"
        "import warnings\n"
        "import loudpackage\n"
        "warnings.warn_explicit('our own warning', DeprecationWarning, 'bot/stack.py', 1, module='bot.stack')\n"
    )
    assert "distutils Version" in run_python(code, tmp_path, quiet=False)
    quiet = run_python(code, tmp_path, quiet=True)
    assert "distutils Version" not in quiet
    assert "our own warning" in quiet
