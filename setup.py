"""Build of the one compiled part: the fused apply step (vidlle/_fastapply.c, plain C, no NumPy
headers). Everything else is in setup.cfg. A machine without a C compiler still installs: the
build failure is reported and vidlle runs the NumPy/OpenCV apply instead (`vidlle info` says which).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back at run time
            print(f"vidlle: the C apply step was not built ({exc}); the NumPy/OpenCV apply will run")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"vidlle: the C apply step was not built ({exc}); the NumPy/OpenCV apply will run")


setup(
    ext_modules=[Extension("vidlle._fastapply", ["vidlle/_fastapply.c"], extra_compile_args=["-O3"])],
    cmdclass={"build_ext": OptionalBuildExt},
)
