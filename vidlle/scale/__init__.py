"""Many cameras and large backlogs: one Ray actor per camera, one Ray task per file.

- :mod:`vidlle.scale.config`: ``cameras.yaml`` -> frozen :class:`CameraConfig` per camera.
- :mod:`vidlle.scale.camera`: :class:`CameraWorker`, one camera's LiveSource -> Enhancer -> sink
  (the ordinary :class:`~vidlle.pipeline.Pipeline`), with recordings rotated by time.
- :mod:`vidlle.scale.hosts`: what runs the workers (``serve --run-on``): a Ray actor per camera
  (restarted by Ray when it crashes), or a thread of this process when Ray is not installed.
- :mod:`vidlle.scale.service`: ``vidlle serve``: the cameras' host, the polling loop, the stats table.
- :mod:`vidlle.scale.backlog`: ``vidlle enhance 'dir/*.mp4' out/ --ray``: every file exactly as
  ``vidlle enhance in out`` does it, as Ray tasks (or one after another without Ray).

Ray is optional (``pip install 'vidlle[scale]'``) and imported only inside the functions that
need it; nothing here has import-time side effects.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from vidlle.errors import ScaleError

SCALE_EXTRA = "pip install 'vidlle[scale]' (in a checkout: pip install -e '.[scale]')"


def import_ray():
    """The ``ray`` module, or ScaleError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ScaleError(f"Ray is not installed: {SCALE_EXTRA}") from None
    return ray


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def init_ray(address: str | None = None, quiet: bool = True) -> bool:
    """Connect to Ray: join ``address`` (``ray://host:10001``, ``host:6379``, ``auto``), else the
    cluster named by ``$RAY_ADDRESS``, else start a new local instance (never a cluster that a
    ``ray start`` left on this machine: that takes ``--address auto``). Reuses an instance this
    process already joined. Returns True when this call started/joined it (the caller shuts it
    down), False when it was already initialised.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    if address is None and not os.environ.get("RAY_ADDRESS"):
        address = "local"
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=True,
                 logging_level=logging.WARNING if quiet else logging.INFO)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray instance" if address in (None, "local") else address
        raise ScaleError(f"cannot start or join {where}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if callable(sigterm):
        # ray.init installs a native SIGTERM handler that dumps a stack and kills the process;
        # the CLI's own handler (stop the cameras, finalise the recordings, exit 130) must win.
        signal.signal(signal.SIGTERM, sigterm)
    return True
