"""An nnU-Net model folder made ready to predict: nnunetv2's predictor (with the window gate) initialised from the
plans and the folds' checkpoints, loaded weights-only, as `nnUNetPredictor.initialize_from_trained_model_folder`
does it (which loads checkpoints with a plain unpickler and finds trainers only where timm is installed)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import torch

from petseg.errors import PetsegError
from petseg.nnunet.folder import NnunetFolder
from petseg.nnunet.runtime import build_network, find_trainer_class, load_checkpoint

AXIS_NAMES = "zyx"  # the PET array's axes (0 z, 1 y, 2 x), as --tta names them


def _checkpoints(folder: NnunetFolder) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first fold's checkpoint (trainer, configuration, mirroring) and every fold's weights."""
    loaded = [load_checkpoint(path) for path in folder.checkpoints]
    first = loaded[0]
    configuration = first.get("init_args", {}).get("configuration")
    for path, checkpoint in zip(folder.checkpoints, loaded, strict=True):
        if checkpoint["trainer_name"] != first["trainer_name"] or \
                checkpoint.get("init_args", {}).get("configuration") != configuration:
            raise PetsegError(f"{path} belongs to another trainer or configuration than {folder.checkpoints[0]}")
    return first, [c["network_weights"] for c in loaded]


def mirror_axes(asked: tuple[int, ...] | None, allowed: tuple[int, ...] | None, transpose: list[int],
                patch_dims: int) -> tuple[int, ...]:
    """The network's mirroring axes: what the checkpoint allows (asked None), else the PET axes asked for (0 z, 1 y,
    2 x) as the network sees them (nnU-Net transposes the image; a 2D network mirrors in-plane axes only)."""
    allowed = tuple(int(a) for a in allowed) if allowed is not None else ()
    if asked is None:
        return allowed
    offset = 3 - patch_dims
    chosen = tuple(sorted(transpose.index(a) - offset for a in asked))
    refused = [AXIS_NAMES[a] for a, net in zip(sorted(asked), chosen, strict=True) if net not in allowed]
    if refused:
        can = "".join(sorted((AXIS_NAMES[transpose[a + offset]] for a in allowed), key="xyz".index)) or "none"
        raise PetsegError(f"--tta {''.join(sorted(refused, key='xyz'.index))}: this nnU-Net model allows mirroring "
                          f"over {can} only (its checkpoint's inference_allowed_mirroring_axes)")
    return chosen


def build_predictor(folder: NnunetFolder, device: torch.device, tile_step_size: float, dtype: torch.dtype | None,
                    asked_mirroring: tuple[int, ...] | None) -> Any:
    """nnunetv2's predictor with the window gate (`gated.GatedPredictor`), initialised from `folder`."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from petseg.nnunet.gated import GatedPredictor

    first, weights = _checkpoints(folder)
    plans_manager = PlansManager(folder.plans)
    name = first.get("init_args", {}).get("configuration") or folder.configuration
    if name not in folder.plans.get("configurations", {}):
        raise PetsegError(f"{folder.path}: the checkpoints' configuration {name!r} is not in plans.json")
    configuration = plans_manager.get_configuration(name)
    if configuration.previous_stage_name is not None:
        raise PetsegError(f"{folder.path} is the second stage of an nnU-Net cascade (it needs the masks of "
                          f"{configuration.previous_stage_name}); petseg runs single-stage configurations")
    network = build_network(find_trainer_class(first["trainer_name"]), plans_manager, configuration,
                            folder.dataset_json)
    try:
        network.load_state_dict(weights[0])
    except RuntimeError as error:
        reason = str(error).splitlines()[0]
        raise PetsegError(f"{folder.checkpoints[0]} does not fit the network plans.json describes ({reason})") from None
    axes = mirror_axes(asked_mirroring, first.get("inference_allowed_mirroring_axes"),
                       list(plans_manager.transpose_forward), len(configuration.patch_size))
    with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net prints notes on stdout, petseg's results stream
        predictor = GatedPredictor(tile_step_size=tile_step_size, use_gaussian=True, use_mirroring=bool(axes),
                                   perform_everything_on_device=device.type == "cuda", device=device, verbose=False,
                                   verbose_preprocessing=False, allow_tqdm=False, dtype=dtype)
        predictor.manual_initialization(network, plans_manager, configuration, weights, folder.dataset_json,
                                        first["trainer_name"], axes or None)
    predictor.network.to(device).eval()
    return predictor


def mirroring_letters(predictor: Any) -> str:
    """The mirroring axes a predictor runs, named as --tta names them (x, y, z of the PET array)."""
    if not predictor.use_mirroring or not predictor.allowed_mirroring_axes:
        return ""
    transpose = list(predictor.plans_manager.transpose_forward)
    offset = 3 - len(predictor.configuration_manager.patch_size)
    return "".join(sorted((AXIS_NAMES[transpose[a + offset]] for a in predictor.allowed_mirroring_axes),
                          key="xyz".index))
