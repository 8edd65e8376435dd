"""Benchmark: one 96^3 window of each seed network on the CPU, eager PyTorch against CPU inference engines.

Engines, all in one process with the same threads, timed in alternation (one call of each engine per round):
- torch fp32 / torch bf16 (autocast + channels-last-3d, what petseg runs by default on CPUs with native bf16);
- torch.compile (inductor) of the bf16 and fp32 networks (compile time reported apart);
- ONNX Runtime (CPU execution provider) fp32, and int8 (static QDQ quantisation, per-channel weights, calibrated
  on real PET windows);
- OpenVINO (CPU plugin) fp32, bf16 (inference precision hint) and int8 (the same QDQ model).
Each engine's probability is compared with eager fp32 on a real PET window (STS_001 whole-body at 2 x 2 x 3 mm):
the largest absolute difference and the share of voxels whose side of 0.5 changes.

Networks: tiny_unet PET-only (the issue's trained UNet), seed 000 SegResNetDS, seed 004 DynUNet, seed 002
Swin-UNETR, with random weights (speed does not depend on them); `trained`: the network of a trained model folder
(`--model`, its weights). OpenVINO's fp32 and bf16 rows convert the traced network as petseg does
(`petseg.models.engines`); its int8 row and ONNX Runtime's run the exported ONNX model.

Run: flock /work/proto/heavy.lock python bench/engines.py [--networks ...] [--model FOLDER] [--engines ...]
     [--rounds 3] [--threads 2]
Needs onnx, onnxruntime, openvino (and onnxscript) for their rows; a missing one is reported, not fatal.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
NETWORKS = {"unet": ("tiny_unet", {"inputs": "[pet]"}), "segresnetds": ("auto3dseg_segresnet", {}),
            "dynunet": ("hadlich_dynunet", {}), "swinunetr": ("galdran_swinunetr", {})}
ENGINES = ("torch-fp32", "torch-bf16", "compile-bf16", "ort-fp32", "ort-int8", "ov-fp32", "ov-bf16", "ov-int8")


def build(name: str, model: Path | None = None) -> tuple[nn.Module, int, int]:
    """(probability module, input channels, parameters) of a seed network with seeded random weights, or of the
    trained model folder `model` (name `trained`)."""
    from petseg.models.engines import ProbabilityGraph
    from petseg.models.networks import build_network
    from petseg.recipe import load_recipe

    if name == "trained":
        from petseg.infer.models import load_model_folder

        folder = load_model_folder(model, torch.device("cpu"))
        network = folder.network.float().eval()
        return ProbabilityGraph(network).eval(), len(folder.recipe.inputs), sum(p.numel() for p in network.parameters())
    recipe_name, overrides = NETWORKS[name]
    recipe = load_recipe(recipe_name, overrides)
    torch.manual_seed(0)
    network = build_network(recipe.network, len(recipe.inputs)).eval()
    return ProbabilityGraph(network).eval(), len(recipe.inputs), sum(p.numel() for p in network.parameters())


def real_windows(channels: int, roi: int, count: int) -> list[np.ndarray]:
    """`count` windows (1, C, roi^3) of STS_001's whole-body PET at 2 x 2 x 3 mm, SUV/10 in every channel."""
    import SimpleITK as sitk

    from petseg.data.dicom_study import load_dicom_study
    from petseg.data.study import resample_onto
    from petseg.preprocess import target_grid

    study = load_dicom_study(SHARED / "sts_001_wb_pet_rtstruct" / "pet")
    grid = target_grid(study.suv, (2.0, 2.0, 3.0))
    suv = resample_onto(study.suv, grid, sitk.sitkLinear, 0.0).array / 10.0
    windows = []
    rng = np.random.default_rng(0)
    body = np.argwhere(suv > 0.1)
    for _ in range(count):  # windows centred on the body, as the windows that run are
        z, y, x = (max(int(c) - roi // 2, 0) for c in body[rng.integers(len(body))])
        block = np.zeros((roi, roi, roi), np.float32)
        crop = suv[z:z + roi, y:y + roi, x:x + roi]
        block[:crop.shape[0], :crop.shape[1], :crop.shape[2]] = crop
        windows.append(np.repeat(block[None, None], channels, axis=1))
    return windows


def torch_runner(module: nn.Module, bf16: bool, compiled: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Eager (or inductor-compiled) PyTorch, fp32 or bf16 autocast with channels-last-3d."""
    import copy

    net = copy.deepcopy(module)
    if bf16:
        net = net.to(memory_format=torch.channels_last_3d)
    if compiled:
        net = torch.compile(net)

    @torch.no_grad()
    def run(window: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(window)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return net(x).float().numpy()

    return run


def export_onnx(module: nn.Module, channels: int, roi: int, path: Path) -> Path:
    """The probability graph as ONNX (TorchScript exporter, opset 17, static 1 x C x roi^3)."""
    example = torch.zeros(1, channels, roi, roi, roi)
    torch.onnx.export(module, (example,), str(path), input_names=["image"], output_names=["probability"],
                      opset_version=17, dynamo=False)
    return path


def quantize_int8(model: Path, windows: list[np.ndarray], path: Path) -> Path:
    """Static int8 QDQ quantisation (per-channel weights, activations calibrated on `windows`)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter({"image": w} for w in windows)

        def get_next(self):
            return next(self.items, None)

    prepared = path.with_suffix(".pre.onnx")
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return path


def ort_runner(model: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return lambda window: session.run(None, {"image": window})[0]


def ov_traced(module: nn.Module, channels: int, roi: int):
    """The OpenVINO model of the traced network, converted as petseg converts it."""
    import openvino as ov

    example = torch.zeros(1, channels, roi, roi, roi)
    with torch.no_grad():
        return ov.convert_model(torch.jit.trace(module, example, check_trace=False), example_input=example)


def ov_runner(model, threads: int, hint: str) -> Callable[[np.ndarray], np.ndarray]:
    """OpenVINO's CPU plugin on `model` (a converted model, or an ONNX file)."""
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
    request = ov.Core().compile_model(str(model) if isinstance(model, Path) else model, "CPU", config
                                      ).create_infer_request()
    return lambda window: np.array(request.infer({0: window})[0])


def make_runners(name: str, engines: list[str], roi: int, threads: int, folder: Path, model: Path | None
                 ) -> tuple[dict[str, Callable], dict[str, str], list[np.ndarray], int]:
    """Every asked engine's runner for network `name` (set-up failures noted, not fatal)."""
    module, channels, parameters = build(name, model)
    windows = real_windows(channels, roi, 4)
    runners, notes = {}, {}
    onnx_path = int8_path = traced = None
    for engine in engines:
        start = time.perf_counter()
        try:
            if engine.startswith(("torch", "compile")):
                runners[engine] = torch_runner(module, engine.endswith("bf16"), engine.startswith("compile"))
            elif engine in ("ov-fp32", "ov-bf16"):
                traced = traced or ov_traced(module, channels, roi)
                runners[engine] = ov_runner(traced, threads, "f32" if engine == "ov-fp32" else "bf16")
            else:
                onnx_path = onnx_path or export_onnx(module, channels, roi, folder / f"{name}.onnx")
                if engine.endswith("int8"):
                    int8_path = int8_path or quantize_int8(onnx_path, windows[1:], folder / f"{name}.int8.onnx")
                onnx_model = int8_path if engine.endswith("int8") else onnx_path
                runners[engine] = (ort_runner(onnx_model, threads) if engine.startswith("ort") else
                                   ov_runner(onnx_model, threads, "bf16"))
            runners[engine](windows[0])  # first call: compilation, allocation
            notes[engine] = f"set-up {time.perf_counter() - start:.1f} s"
        except Exception as error:
            notes[engine] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
    return runners, notes, windows, parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=[*NETWORKS, "trained"])
    parser.add_argument("--model", type=Path, help="the trained model folder of --networks trained")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--roi", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if "trained" in args.networks and args.model is None:
        parser.error("--networks trained needs --model FOLDER")
    torch.set_num_threads(args.threads)
    versions = [f"torch {torch.__version__}"]
    for package in ("onnxruntime", "openvino"):
        try:
            versions.append(f"{package} {__import__(package).__version__}")
        except ImportError:
            versions.append(f"{package} absent")
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, {', '.join(versions)}")
    print("\n| network | parameters | engine | s / window (median) | vs torch bf16 | vs torch fp32 | "
          "max abs diff vs fp32 | voxels across 0.5 | set-up |\n|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks:
            runners, notes, windows, parameters = make_runners(name, args.engines, args.roi, args.threads, Path(tmp),
                                                                args.model)
            times: dict[str, list[float]] = {e: [] for e in runners}
            for _ in range(args.rounds):  # alternating: one call of each engine per round
                for engine, run in runners.items():
                    start = time.perf_counter()
                    run(windows[0])
                    times[engine].append(time.perf_counter() - start)
            reference = runners["torch-fp32"](windows[0]) if "torch-fp32" in runners else None
            median = {e: statistics.median(t) for e, t in times.items()}
            for engine in args.engines:
                if engine not in runners:
                    print(f"| {name} | {parameters / 1e6:.2f} M | {engine} | - | - | - | - | - | {notes[engine]} |")
                    continue
                output = runners[engine](windows[0])
                diff = float(np.abs(output - reference).max()) if reference is not None else float("nan")
                flipped = float(((output >= 0.5) != (reference >= 0.5)).mean()) if reference is not None else 0.0
                ratio = {k: f"{median[k] / median[engine]:.2f}x" if k in median else "-"
                         for k in ("torch-bf16", "torch-fp32")}
                print(f"| {name} | {parameters / 1e6:.2f} M | {engine} | {median[engine]:.3f} | "
                      f"{ratio['torch-bf16']} | {ratio['torch-fp32']} | {diff:.2e} | {flipped:.2e} | "
                      f"{notes[engine]} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
