"""The one packaging step pyproject.toml cannot say (everything else is there).

The studio's demo weights live in the checkout's ``resources/weights`` (beside their README and
``tools/demo_weights.py``, which makes them); a wheel carries them inside the package, as
``studio/resources/weights``, where ``studio/services/starting_weights.py`` finds them in an
installed copy. An editable install reads them from the checkout, so it copies nothing.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEIGHTS = Path(__file__).resolve().parent / "resources" / "weights"
PACKAGED = Path("studio") / "resources" / "weights"


class BuildPyWithWeights(build_py):
    """build_py, then the demo weights into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / PACKAGED
        self.mkpath(str(target))
        for source in sorted(WEIGHTS.glob("demo-*.pt")):
            self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithWeights})
