"""vidlle: real-time low-light video enhancement.

Public API::

    from vidlle import Enhancer
    out = Enhancer("curve").enhance(frame)   # frame: HxWx3 uint8 RGB

Importing the package is cheap: NumPy, OpenCV and the runtimes load when an Enhancer or
the pipeline is first used (torch only for the features that need it, see vidlle.extras).
"""

from vidlle.version import __version__

__all__ = ["Enhancer", "__version__"]


def __getattr__(name):
    # Lazy so that `import vidlle` (every command, `vidlle --help` included) stays cheap.
    if name == "Enhancer":
        from vidlle.api import Enhancer

        return Enhancer
    raise AttributeError(name)
