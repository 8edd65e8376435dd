from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from petseg.errors import PetsegError
from petseg.models.classifier import MIP_CHANNELS, build_classifier, mip_input
from petseg.models.networks import build_network, count_parameters
from petseg.recipe import load_recipe, recipe_names
from petseg.recipe.sections import Scheduler
from petseg.train.losses import AutomaticWeightedLoss, auxiliary_targets, build_loss, dilate
from petseg.train.optim import build_optimizer, build_scheduler, epoch_wise
from petseg.train.step import main_output, training_step

SMALL = {  # shrink each seed recipe's network so that one step runs in seconds on a CPU
    "auto3dseg_segresnet": {"network.init_filters": "4"},
    "hadlich_dynunet": {"network.filters": "[4, 8, 8, 8, 8, 8]"},
    "galdran_swinunetr": {"network.feature_size": "12"},
    "liu_stepwise_unet": {"network.channels": "[4, 8, 8, 8, 8]", "network.num_res_units": "1"},
    "safdari_cascade": {"network.filters": "[4, 8, 8, 8, 8]"},
    "safdari_stage2": {"network.channels": "[4, 8, 8, 8, 8]"},
    "tiny_unet": {},
    "wb_fdg_cpu": {},
}
CLASSIFIERS = ("galdran_mip_classifier", "tiny_mip_classifier")


def test_every_seed_paper_has_a_recipe():
    assert set(SMALL) | set(CLASSIFIERS) == set(recipe_names())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_recipe_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    recipe = load_recipe(name)
    network = build_classifier(recipe.network, MIP_CHANNELS)
    suv = np.zeros((60, 40, 40), np.float32)
    suv[30, 20, 20] = 8.0
    inputs = mip_input(suv, recipe.network.input_size, recipe.suv_max)[None].repeat(2, 1, 1, 1)
    optimizer = build_optimizer(recipe.optimizer, network.parameters())
    loss = torch.nn.functional.binary_cross_entropy_with_logits(network(inputs), torch.tensor([[1.0], [0.0]]))
    loss.backward()
    optimizer.step()
    assert network(inputs).shape == (2, 1) and math.isfinite(float(loss.detach()))
    assert inputs.shape[1:] == (2, *recipe.network.input_size) and 0.0 < float(inputs.max()) <= 0.8
    with pytest.raises(PetsegError, match="bce"):
        load_recipe(name, {"loss.name": "dice_ce"})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_recipe_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    size = 64 if name == "galdran_swinunetr" else 32  # Swin-UNETR's five 2x stages need more than 32 voxels
    recipe = load_recipe(name, {**SMALL[name], "training.patch_size": f"[{size}, {size}, {size}]"})
    channels = len(recipe.inputs)
    network = build_network(recipe.network, channels)
    loss = build_loss(recipe.loss)
    optimizer = build_optimizer(recipe.optimizer, [*network.parameters(), *loss.parameters()])
    scheduler = build_scheduler(recipe.scheduler, optimizer, epochs=2, steps_per_epoch=3)
    image = torch.rand(1, channels, size, size, size)
    label = torch.zeros(1, 1, size, size, size)
    label[:, :, 10:18, 12:20, 8:16] = 1
    before = [p.detach().clone() for p in network.parameters()]
    value = training_step(network, loss, optimizer, image, label, recipe.image_channels)
    assert value is not None and math.isfinite(value)
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters(), strict=True))
    if epoch_wise(scheduler):
        scheduler.step(value)
    else:
        scheduler.step()
    network.eval()
    with torch.no_grad():
        out = main_output(network(image))
    assert out.shape[0] == 1 and out.shape[2:] == (size, size, size)
    assert out.shape[1] == recipe.network.out_channels


def test_full_size_seed_networks_match_the_papers():
    segresnet = build_network(load_recipe("auto3dseg_segresnet").network, 2)
    assert 80e6 < count_parameters(segresnet) < 95e6  # SegResNetDS 32 filters, blocks (1,2,2,4,4): ~87 M
    dynunet = build_network(load_recipe("hadlich_dynunet").network, 1)
    assert 25e6 < count_parameters(dynunet) < 35e6  # DynUNet [32 ... 320]: ~31 M


def test_warmup_cosine_schedule_shape():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = build_scheduler(Scheduler(name="warmup_cosine", warmup_epochs=2), optimizer, epochs=10,
                                steps_per_epoch=1)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1 / 3) and rates[1] == pytest.approx(2 / 3) and rates[2] == pytest.approx(1.0)
    assert rates[3] > rates[5] > rates[9] >= 0


def test_stepwise_targets_and_weighting():
    label = torch.zeros(1, 1, 9, 9, 9)
    label[0, 0, 4, 4, 4] = 1
    fills = torch.stack([torch.full((9, 9, 9), 2.0), torch.full((9, 9, 9), 3.0)])[None]  # CT 2, PET 3
    targets = auxiliary_targets(fills, label, [0, 1, 100])
    assert targets[0, 0].sum() == 2.0 and targets[0, 1].sum() == 27 * 3.0 and targets[0, 2].sum() == 729 * 2.0
    off_centre = torch.zeros(1, 1, 12, 10, 8)
    off_centre[0, 0, 2, 7, 1] = 1
    cube = torch.nn.functional.max_pool3d(off_centre, 5, stride=1, padding=2)  # the one cubic pool it replaces
    assert torch.equal(dilate(off_centre, 2), cube)
    weighting = AutomaticWeightedLoss(3)  # one weight per loss (seed 001, §2.3)
    total = weighting(torch.tensor(1.0), torch.tensor(3.0), torch.tensor(5.0))
    assert float(total.detach()) == pytest.approx(0.5 * (1 + 3 + 5) + 3 * math.log(2))


def test_plateau_then_cosine_resets_the_rate_for_the_last_epochs():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=3e-4)
    spec = Scheduler(name="plateau_cosine", factor=0.4, threshold=5e-3, threshold_mode="abs", restart_lr=1e-4,
                     cosine_epochs=4)
    scheduler = build_scheduler(spec, optimizer, epochs=10, steps_per_epoch=5)
    assert epoch_wise(scheduler)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        scheduler.step(1.0)  # a loss that never falls: the plateau phase lowers the rate after its patience
    assert rates[:6] == [3e-4] * 6 and rates[6] == pytest.approx(1e-4)  # epochs 7-10: the cosine phase
    assert rates[6] > rates[7] > rates[8] > rates[9] > 0
    state = scheduler.state_dict()
    again = build_scheduler(spec, torch.optim.Adam([parameter], lr=3e-4), epochs=10, steps_per_epoch=5)
    again.load_state_dict(state)
    assert again.epoch == 10
