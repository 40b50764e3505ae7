"""vidlle: real-time low-light video enhancement.

Public API::

    from vidlle import Enhancer
    out = Enhancer("curve").enhance(frame)   # frame: HxWx3 uint8 RGB

Importing the package is cheap: torch, cv2 and av load when an Enhancer or the
pipeline is first used.
"""

from vidlle.version import __version__

__all__ = ["Enhancer", "__version__"]


def __getattr__(name):
    # Lazy so that `import vidlle` (e.g. for `vidlle --help`) does not pull in torch.
    if name == "Enhancer":
        from vidlle.api import Enhancer

        return Enhancer
    raise AttributeError(name)
