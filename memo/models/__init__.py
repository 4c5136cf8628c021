"""Model architectures, their specs and bundles.

Importing this package registers every built-in architecture (see
:mod:`memo.models.registry`): to add one, add its module's name to ``BUILTIN`` below.
"""

from importlib import import_module

# Built-in architectures, one module each (memo/models/<name>.py); importing a module
# registers its models. One line per model module.
BUILTIN: tuple[str, ...] = (
    "amnet",
    "amnetvid",
    "cnn_transformer",
    "fusion",
    "m3s_entry",
    "resmem",
    "resnet3d",
    "semantic",
    "tiny",
    "vmemnet",
)

for _module in BUILTIN:
    import_module(f"memo.models.{_module}")
