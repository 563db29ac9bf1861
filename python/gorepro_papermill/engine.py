"""The ``gorepro`` papermill engine: papermill's nbclient engine, by another name.

It exists for its entry point: papermill imports every ``papermill.engine``
entry point when it starts, and importing this module imports the package,
which registers the Go parameter translator. It lives apart from the package's
``__init__`` so that importing either first works: papermill.engines is still
initialising when it loads us, and only needs NBClientEngine, defined by then.
"""

from papermill.engines import NBClientEngine

import gorepro_papermill  # noqa: F401  (registers the translator)


class GoEngine(NBClientEngine):
    """papermill's default nbclient engine, registered as ``gorepro``."""
