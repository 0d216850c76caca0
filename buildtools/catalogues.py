"""setuptools' build_py, which first compiles the interface's translation catalogues.

`pip install .` and `pip install -e .` both run it, so every install serves the translations its
checkout holds; compiled catalogues are never committed. The compiler is loaded from its file
(intake/i18n/compile.py) because importing the `intake` package needs the app's dependencies,
which the build environment does not have.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent.parent


def _compiler():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("intake_catalogue_compiler", ROOT / "intake/i18n/compile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPy(build_py):
    """Compile `intake/translations/*/LC_MESSAGES/messages.po` beside themselves, then build as usual
    (package data carries the compiled files into a wheel; an editable install reads them in place)."""

    def run(self) -> None:
        for target in _compiler().compile_all(ROOT / "intake" / "translations", only_stale=False):
            self.announce(f"compiled {target.relative_to(ROOT)}", level=2)
        super().run()
