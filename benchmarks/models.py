"""Model-only throughput of every backend (`vidlle bench --models`).

    python benchmarks/models.py [--model curve] [--sizes 720p,1080p] [--seconds 1] [--batch 8]

CPU: fps of the predictor network alone, of downscale + network, and of the whole enhance step,
batch 1, one frame at a time, backends alternating over rounds (best round counts). With CUDA,
GPU-resident rows too: uint8 frames on the device, downscale -> predictor -> the product's
resident apply (:func:`vidlle.models.tone.resident_apply`, fused by torch.compile when it works).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


# -- model-only throughput per backend (`vidlle bench --models`) -------------------------------

# Peak HBM bandwidth (bytes/s) by GPU name fragment, for the "fraction of HBM" column.
HBM_PEAK = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 PCIe": 2.0e12, "H100": 3.35e12, "A100-SXM4-80GB": 2.04e12,
            "A100": 1.55e12}


def _median_seconds(fn, seconds: float, min_runs: int = 5) -> float:
    """Median wall time of ``fn()`` over repeated calls for about ``seconds`` (two warm-up calls)."""
    fn()
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def cpu_model_rows(model: str, sizes: list[str], seconds: float, backends: list[str] | None = None,
                   rounds: int = 3) -> list[dict]:
    """Per size and backend: fps of the network alone, of downscale + network, and of the full
    enhance (+ LUT apply), batch 1, one frame at a time on CPU fp32.

    The backends alternate over ``rounds`` rounds of ``seconds / rounds`` per measurement and
    the best round counts (the machine is shared: slow rounds measure the neighbours).
    """
    import numpy as np

    from vidlle.api import Enhancer
    from vidlle.backends import BACKENDS, backend_class
    from vidlle.io.synth import night_frame
    from vidlle.predictor import ReducedCopies

    names = [n for n in (backends or BACKENDS) if not backend_class(n).unavailable_reason()
             and backend_class(n).supports("cpu", "fp32")]
    enhancers = {n: Enhancer(model, backend=n) for n in names}
    rows = []
    for size in sizes:
        width, height = SIZES[size] if size in SIZES else (int(v) for v in size.lower().split("x"))
        frame = night_frame(1, height, width, np.random.default_rng(0))
        best: dict[str, dict] = {}
        for _ in range(rounds):
            for name, enh in enhancers.items():
                x = enh._predictor_input(ReducedCopies(frame))[None]
                runs = {"net_fps": lambda: enh.backend.predict(x),
                        "predictor_fps": lambda: enh._predict([enh._predictor_input(ReducedCopies(frame))]),
                        "enhance_fps": lambda: enh.enhance(frame)}
                row = best.setdefault(name, {"size": size, "backend": name, "input": "x".join(map(str, x.shape[2:]))})
                for metric, fn in runs.items():
                    row[metric] = max(row.get(metric, 0.0), 1 / _median_seconds(fn, seconds / rounds))
        for name, row in best.items():
            rows.append(row)
            print(f"bench: {size} {name}: net {row['net_fps']:.0f} fps, predictor {row['predictor_fps']:.0f} fps, "
                  f"enhance {row['enhance_fps']:.1f} fps", file=sys.stderr, flush=True)
    return rows


def resident_rows(model: str, sizes: list[str], device: str, batch: int, seconds: float,
                  configs: list[tuple[str, str]]) -> list[dict]:
    """Frames resident on ``device`` as (N, 3, H, W) uint8: downscale -> predictor -> apply
    (upsample + curve steps, fused by torch.compile when it works) -> uint8, all on the device.

    configs: (backend, precision) pairs. Timed with CUDA events on CUDA (one wait per
    measurement, none per batch); works on CPU too (slowly), which the tests use.
    """
    import torch
    import torch.nn.functional as F

    from vidlle.api import Enhancer
    from vidlle.models.tone import resident_apply

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    rows = []
    for backend, precision in configs:
        enh = Enhancer(model, backend=backend, device=device, precision=precision)
        dtype = torch.float16 if precision == "fp16" else torch.float32
        module = enh.module.to(dev)

        def apply(frames_u8, r):
            return resident_apply(module, frames_u8, r, dtype)

        fused = apply
        if cuda:
            try:
                fused = torch.compile(apply, dynamic=False)
            except Exception:  # noqa: BLE001 - eager still measures something
                fused = apply
        for size in sizes:
            width, height = SIZES[size] if size in SIZES else (int(v) for v in size.lower().split("x"))
            frames = torch.randint(0, 40, (batch, 3, height, width), dtype=torch.uint8, device=dev)
            h, w = enh.spec.input_size(enh.model_config, height, width)

            def predictor():
                small = F.interpolate(frames.to(dtype), size=(h, w), mode="area") * (1.0 / 255.0)
                return enh.backend.predict_tensor(small)

            def whole():
                return fused(frames, predictor())

            row = {"size": size, "backend": backend, "precision": precision, "batch": batch}
            for label, fn in (("predictor", predictor), ("enhance", whole)):
                try:
                    per_batch = _device_seconds(fn, seconds, dev)
                except Exception:  # noqa: BLE001 - e.g. torch.compile failing: retry eager
                    if fn is whole and fused is not apply:
                        fused = apply
                        per_batch = _device_seconds(fn, seconds, dev)
                    else:
                        raise
                row[f"{label}_fps"] = batch / per_batch
            # uint8 frame read + uint8 frame written per enhanced frame (the predictor's traffic is ~1%).
            row["gbps"] = 2 * 3 * height * width * row["enhance_fps"] / 1e9
            rows.append(row)
            print(f"bench: {size} {backend} {precision} x{batch}: predictor {row['predictor_fps']:.0f} fps, "
                  f"enhance {row['enhance_fps']:.0f} fps ({row['gbps']:.0f} GB/s)", file=sys.stderr, flush=True)
    return rows


def _device_seconds(fn, seconds: float, dev) -> float:
    """Mean seconds per call over a timed loop; on CUDA one event pair, no per-call wait."""
    import torch

    for _ in range(3):
        fn()
    if dev.type != "cuda":
        return _median_seconds(fn, seconds)
    torch.cuda.synchronize(dev)
    # calibrate the count so the timed loop takes about `seconds`
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        fn()
    end.record()
    end.synchronize()
    n = max(10, int(seconds / max(1e-6, start.elapsed_time(end) / 1e3 / 10)))
    start.record()
    for _ in range(n):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / n


def run_model_bench(model: str = "curve", sizes: list[str] | None = None, seconds: float = 1.0,
                    device: str | None = None, batch: int = 8) -> dict:
    """Print model-only fps tables (markdown) for CPU backends and, with CUDA, GPU-resident ones."""
    import torch

    from vidlle.backends import AUTO_EVIDENCE, auto_choice, backend_class

    result: dict = {"cpu": [], "cuda": []}
    cpu_sizes = sizes or ["720p", "1080p"]
    result["cpu"] = rows = cpu_model_rows(model, cpu_sizes, seconds)
    print(f"\n{model} on CPU (fp32, batch 1, one thread, cpu cores: {os.cpu_count()}); "
          "net = predictor network alone, predictor = downscale + network, enhance = + LUT apply")
    print("| size | backend | predictor input | net fps | predictor fps | enhance fps |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['backend']} | {r['input']} | {r['net_fps']:.0f} | {r['predictor_fps']:.0f} | "
              f"{r['enhance_fps']:.1f} |")
    ref = [r for r in rows if r["size"] == ("1080p" if "1080p" in cpu_sizes else cpu_sizes[-1])]
    fastest = max(ref, key=lambda r: r["predictor_fps"])["backend"] if ref else None
    pick = auto_choice("cpu", "fp32")
    print(f"auto on cpu picks {pick} (table in vidlle/backends/__init__.py: {AUTO_EVIDENCE['cpu']}); "
          f"fastest predictor measured now: {fastest}"
          + ("" if pick == fastest else " -- differs: update AUTO_EVIDENCE if this holds on repeat runs"))
    gpu = device if device and device.startswith("cuda") else ("cuda" if torch.cuda.is_available() else None)
    if gpu is None:
        print("no CUDA GPU: GPU-resident rows (torch fp16/fp32, TensorRT) skipped")
        return result
    configs = [("torch", "fp32"), ("torch", "fp16")]
    if not backend_class("tensorrt").unavailable_reason():
        configs.append(("tensorrt", "fp16"))
    if backend_class("onnxruntime").supports(gpu, "fp16"):
        configs.append(("onnxruntime", "fp16"))
    gpu_sizes = sizes or ["720p", "1080p", "4k"]
    result["cuda"] = grows = resident_rows(model, gpu_sizes, gpu, batch, max(seconds, 1.0), configs)
    name = torch.cuda.get_device_name(torch.device(gpu))
    peak = next((v for k, v in HBM_PEAK.items() if k in name), None)
    print(f"\n{model} on {name}, frames resident on the GPU (uint8 NCHW, batch {batch}); predictor = "
          "downscale + network; enhance = + fused upsample/curve/uint8 apply")
    print("| size | backend | precision | predictor fps | enhance fps | GB/s | of HBM peak |")
    print("|---|---|---|---|---|---|---|")
    for r in grows:
        frac = f"{r['gbps'] * 1e9 / peak:.0%}" if peak else "?"
        print(f"| {r['size']} | {r['backend']} | {r['precision']} | {r['predictor_fps']:.0f} | "
              f"{r['enhance_fps']:.0f} | {r['gbps']:.0f} | {frac} |")
    print(f"auto on {gpu} picks {auto_choice(gpu, 'fp16')} for fp16")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="curve")
    ap.add_argument("--sizes", help="comma list of 360p/720p/1080p/4k/WxH [CPU 720p,1080p; GPU 720p,1080p,4k]")
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--batch", type=int, default=8, help="GPU batch")
    ap.add_argument("--device", help="cuda device for the GPU rows [cuda when present]")
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()] if args.sizes else None
    run_model_bench(args.model, sizes, args.seconds, device=args.device, batch=args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
