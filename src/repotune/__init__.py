"""repotune: turn an organisation's source repositories into a fine-tuned, served code model.

Public API: the run config, the object store, the step contract and the runner.
"""

from repotune._version import __version__
from repotune.core.errors import ConfigError, GateFailed, RepotuneError, StepError, StoreError
from repotune.core.store import ObjectStore, StoreConfig, open_store

__all__ = [
    "ConfigError", "GateFailed", "ObjectStore", "RepotuneError", "StepError", "StoreConfig", "StoreError",
    "__version__", "open_store",
]
