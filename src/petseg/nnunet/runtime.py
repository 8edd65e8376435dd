"""nnunetv2 at run time: the import (one line when it is missing), checkpoints loaded weights-only, the trainer
class found by name (also without timm), the network built from the plans, postprocessing.pkl read by a restricted
unpickler. Nothing here runs code from a model folder: checkpoints and postprocessing.pkl are pickles, and a plain
unpickler would import and call whatever they name.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import pkgutil
import zipfile
from pathlib import Path
from typing import Any

from petseg.errors import PetsegError

NNUNET_VERSION = "2.8.1"
EXT_TRAINER = "nnUNet_extTrainer"  # nnU-Net's variable naming folders of trainers outside nnunetv2
INSTALL = (f"pip install --no-deps nnunetv2=={NNUNET_VERSION} dynamic-network-architectures==0.4.4, then its other "
           "dependencies with your torch pinned: pip install 'petseg[nnunet]' -c torch-pin.txt (README: Running "
           "published autoPET models; in a petseg checkout: make nnunet)")
# The one post-processing function nnU-Net defines (nnunetv2.postprocessing.remove_connected_components).
POSTPROCESSING_FUNCTIONS = {("nnunetv2.postprocessing.remove_connected_components",
                             "remove_all_but_largest_component_from_segmentation")}
NUMPY_GLOBALS = {("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}


def require_nnunetv2() -> None:
    """Import nnunetv2's predictor, or say in one line what to install."""
    try:
        importlib.import_module("nnunetv2.inference.predict_from_raw_data")
    except ImportError as error:
        raise PetsegError(f"running nnU-Net models needs nnunetv2 ({error}): {INSTALL}") from None


def nnunetv2_version() -> str:
    """The installed nnunetv2's version."""
    from importlib.metadata import version

    return version("nnunetv2")


def _numpy_safe_globals() -> list[Any]:
    """What nnU-Net checkpoints pickle besides tensors: numpy scalars and dtypes in the training log."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    kinds = (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)
    return [core.multiarray.scalar, np.dtype, *{type(np.dtype(kind)) for kind in kinds}]


def load_checkpoint(path: Path) -> dict[str, Any]:
    """An nnU-Net checkpoint loaded weights-only (no code runs); one line for a truncated or foreign file."""
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            content = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PetsegError(f"{path} cannot be loaded as an nnU-Net checkpoint, weights only ({reason[:200]}); it is "
                          "truncated, damaged or holds more than weights: restore or download it again") from None
    if not isinstance(content, dict) or "network_weights" not in content or "trainer_name" not in content:
        raise PetsegError(f"{path} is not an nnU-Net checkpoint (no network_weights/trainer_name in it)")
    return content


def _module_class(module_name: str, name: str, base: type) -> type | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:  # e.g. nnU-Net's Primus trainers without timm: not the one looked for
        return None
    found = getattr(module, name, None)
    return found if isinstance(found, type) and issubclass(found, base) else None


def find_trainer_class(name: str) -> type:
    """The nnU-Net trainer class `name`: in nnunetv2 (modules that cannot be imported, e.g. for lack of timm, are
    passed over; nnU-Net's own lookup stops at the first), else in `$nnUNet_extTrainer` folders."""
    import nnunetv2.training.nnUNetTrainer as package
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    if name == nnUNetTrainer.__name__:
        return nnUNetTrainer
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".", onerror=lambda _: None):
        if not info.ispkg and (found := _module_class(info.name, name, nnUNetTrainer)) is not None:
            return found
    for folder in filter(None, os.environ.get(EXT_TRAINER, "").split(os.pathsep)):
        if os.path.isdir(folder):
            found = recursive_find_python_class(folder, name, None, base_folder=folder,
                                                cleanup_imports_from_base_folder=True)
            if isinstance(found, type) and issubclass(found, nnUNetTrainer):
                return found
    raise PetsegError(f"the model was trained with the nnU-Net trainer {name!r}, which is neither in nnunetv2 nor in "
                      "$nnUNet_extTrainer: install the code its authors published and point nnUNet_extTrainer to it")


def build_network(trainer: type, plans_manager: Any, configuration_manager: Any, dataset_json: dict[str, Any]) -> Any:
    """The trainer's network for the configuration, as nnUNetPredictor builds it (no deep supervision)."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    inputs = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    outputs = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    if "plans_manager" in inspect.signature(trainer.build_network_architecture).parameters:
        return trainer.build_network_architecture(plans_manager, configuration_manager, inputs, outputs,
                                                  enable_deep_supervision=False)
    return trainer.build_network_architecture(  # the signature of nnunetv2 before 2.6
        configuration_manager.network_arch_class_name, configuration_manager.network_arch_init_kwargs,
        configuration_manager.network_arch_init_kwargs_req_import, inputs, outputs, enable_deep_supervision=False)


class _PostprocessingUnpickler(pickle.Unpickler):
    """Resolves nnU-Net's post-processing function and numpy scalars only; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in POSTPROCESSING_FUNCTIONS | NUMPY_GLOBALS:
            return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which is not nnU-Net's post-processing")


def load_postprocessing(path: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """(functions, keyword arguments) of nnU-Net's postprocessing.pkl, read without running foreign code."""
    try:
        with open(path, "rb") as handle:
            functions, kwargs = _PostprocessingUnpickler(handle).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise PetsegError(f"{path} is refused ({error}); delete it to run without nnU-Net's post-processing") from None
    if len(functions) != len(kwargs) or not all(isinstance(k, dict) for k in kwargs):
        raise PetsegError(f"{path} is not nnU-Net's post-processing (functions and arguments do not pair)")
    return list(functions), list(kwargs)
