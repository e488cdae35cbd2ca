#!/usr/bin/env python3
"""Peer benchmarks: thinktwice's EfficientNet-Lite0, same weights, in JAX/XLA and ONNX Runtime on the CPU.

Each peer is built from the project's safetensors weight file (never from a third-party model zoo),
checked against reference logits (and, for JAX, optionally a reference input gradient), and only then
timed. One JSON object goes to stdout; everything else goes to stderr. See bench/README.md.

The architecture mirrors src/model/mod.rs: TF "SAME" padding, conv -> per-channel scale and shift
(inference BatchNorm, kept after the conv as in the Rust model) -> ReLU6, MBConv blocks without
squeeze-excitation, 1x1 head to 1280, global average pool, linear classifier. The 33 gates of the
Rust model are all 1 in these measurements, so they are left out: multiplying by ones changes no
value and no gradient with respect to the input.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from functools import partial

import numpy as np

# (expand ratio, kernel, stride, in, out, repeats): the STAGES table of src/model/mod.rs.
STAGES = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
LOGIT_TOLERANCE = 1e-3  # absolute, as the golden README asks of f32 CPU implementations
# Relative L2 error. Looser than the golden files' 1e-3 on purpose: a neuron whose pre-activation
# sits within f32 rounding of a ReLU6 kink flips its mask between implementations and moves the
# input gradient by about 1e-3 on its own (seen on both golden photos); a wrong backward pass is
# off by far more than 1e-2.
GRAD_TOLERANCE = 1e-2


def log(*parts):
    print("peers:", *parts, file=sys.stderr, flush=True)


class Refused(Exception):
    """A peer disagrees with the reference: its timings would be meaningless."""


# ---------------------------------------------------------------------------------------------
# Architecture, independent of the framework


def conv_spec(name, cin, cout, kernel, stride, depthwise=False):
    return {"name": name, "in": cin, "out": cout, "kernel": kernel, "stride": stride, "depthwise": depthwise}


def blocks():
    """The 16 inverted-residual blocks, named b0..b15 as in the weight file."""
    out = []
    for ratio, kernel, stride, cin, cout, repeats in STAGES:
        for r in range(repeats):
            c_in, s = (cin, stride) if r == 0 else (cout, 1)
            i, hidden = len(out), c_in * ratio
            out.append({
                "expand": conv_spec(f"b{i}.expand", c_in, hidden, 1, 1) if ratio != 1 else None,
                "dw": conv_spec(f"b{i}.dw", hidden, hidden, kernel, s, depthwise=True),
                "project": conv_spec(f"b{i}.project", hidden, cout, 1, 1),
                "residual": s == 1 and c_in == cout,
            })
    return out


STEM = conv_spec("stem", 3, STEM_CHANNELS, 3, 2)
HEAD = conv_spec("head", STAGES[-1][4], HEAD_CHANNELS, 1, 1)


def same_padding(size, kernel, stride):
    """TF "SAME": the output is ceil(size/stride); an odd total puts the extra pixel after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def load_weights(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in load_file(path).items()}
    except (OSError, SafetensorError) as e:
        raise SystemExit(f"peers: cannot read the weights {path}: {e}") from None
    # Fail here with a name rather than deep inside a framework with a shape mismatch.
    specs = [STEM, HEAD] + [c for b in blocks() for c in (b["expand"], b["dw"], b["project"]) if c]
    for s in specs:
        want = (s["out"], 1 if s["depthwise"] else s["in"], s["kernel"], s["kernel"])
        for key, shape in ((".weight", want), (".scale", (s["out"],)), (".shift", (s["out"],))):
            got = w.get(s["name"] + key)
            if got is None or got.shape != shape:
                raise SystemExit(f"peers: {path}: {s['name']}{key} is {None if got is None else got.shape}, expected {shape}")
    if w["fc.weight"].shape != (NUM_CLASSES, HEAD_CHANNELS) or w["fc.bias"].shape != (NUM_CLASSES,):
        raise SystemExit(f"peers: {path}: classifier fc.weight/fc.bias has the wrong shape")
    return w


def read_f32(path, what):
    try:
        data = np.fromfile(path, dtype="<f4")
    except OSError as e:
        raise SystemExit(f"peers: cannot read {what} {path}: {e.strerror}") from None
    if data.size == 0:
        raise SystemExit(f"peers: {what} {path} is empty")
    return data


def read_input(path):
    data = read_f32(path, "input")
    side = math.isqrt(data.size // 3)
    if 3 * side * side != data.size:
        raise SystemExit(f"peers: input {path} holds {data.size} floats, not 3xSxS (a 1x3xSxS NCHW image)")
    return data.reshape(1, 3, side, side)


# ---------------------------------------------------------------------------------------------
# Timing


def time_runs(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": runs}


def check_logits(peer, logits, reference):
    diff = float(np.max(np.abs(np.asarray(logits, dtype=np.float64).reshape(-1) - reference)))
    log(f"{peer}: max |logit - reference| = {diff:.3g}")
    if not diff <= LOGIT_TOLERANCE:  # also catches NaN
        raise Refused(f"{peer}: logits differ from the reference by {diff:.3g} > {LOGIT_TOLERANCE}; not timing a wrong network")
    return diff


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------
# JAX / XLA


def jax_model(weights, cls, layout="nhwc", depthwise="taps"):
    """(params, forward, forward_backward), jitted: forward(params, x) -> logits [1, 1000];
    forward_backward(params, x) -> (d logit[cls] / d x, logits). x is NCHW in either layout."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # don't probe for accelerators: this is a CPU benchmark
    import jax
    import jax.numpy as jnp
    from jax import lax

    # NHWC is twice as fast as NCHW here: the depthwise taps then multiply contiguous channel
    # vectors. (With grouped lax.conv both layouts run alike: XLA re-lays out NCHW itself.)
    nhwc = layout == "nhwc"
    taps = depthwise == "taps"
    dims = ("NHWC", "HWIO", "NHWC") if nhwc else ("NCHW", "OIHW", "NCHW")
    spatial = (1, 2) if nhwc else (2, 3)

    def kernel(w, depthwise):
        if depthwise and taps:
            # [C,1,k,k] -> [k,k,C] (NHWC) or [k,k,C,1,1] (NCHW): tap (i, j) broadcasts over the activation.
            w = w[:, 0].transpose(1, 2, 0)
            return jnp.asarray(w if nhwc else w[..., None, None])
        # OIHW -> HWIO; a depthwise [C,1,k,k] kernel becomes [k,k,1,C] with feature_group_count = C.
        return jnp.asarray(w.transpose(2, 3, 1, 0) if nhwc else w)

    def per_channel(v):
        return jnp.asarray(v if nhwc else v.reshape(-1, 1, 1))

    specs = [STEM, HEAD] + [c for b in blocks() for c in (b["expand"], b["dw"], b["project"]) if c]
    params = {s["name"]: (kernel(weights[s["name"] + ".weight"], s["depthwise"]),
                          per_channel(weights[s["name"] + ".scale"]),
                          per_channel(weights[s["name"] + ".shift"])) for s in specs}
    params["fc"] = (jnp.asarray(weights["fc.weight"].T), jnp.asarray(weights["fc.bias"]))

    def window(x, offset, count, stride):
        """x[.., offset + stride*t, ..] for t < count along both spatial axes."""
        start, limit, strides = [0] * 4, list(x.shape), [1] * 4
        for axis, o, n in zip(spatial, offset, count):
            start[axis], limit[axis], strides[axis] = o, o + (n - 1) * stride + 1, stride
        return lax.slice(x, start, limit, strides)

    def pad_spatial(x, pads, interior=0):
        config = [(0, 0, 0)] * 4
        for axis, (lo, hi) in zip(spatial, pads):
            config[axis] = (lo, hi, interior)
        return lax.pad(x, jnp.zeros((), x.dtype), config)

    # XLA:CPU runs grouped convolutions (feature_group_count = C) an order of magnitude slower
    # than the same depthwise convolution written as k*k strided slices times per-channel
    # weights, which it fuses into one loop: same arithmetic, up to summation order.
    @partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
    def depthwise(x, w, k, s, pads):
        count = [-(-x.shape[a] // s) for a in spatial]
        xp = pad_spatial(x, pads)
        return sum(window(xp, (i, j), count, s) * w[i, j] for i in range(k) for j in range(k))

    def depthwise_fwd(x, w, k, s, pads):
        return depthwise(x, w, k, s, pads), (x, w)

    def depthwise_bwd(k, s, pads, res, g):
        # Autodiff would transpose each strided slice into its own interior-padded full-size
        # array, which XLA:CPU does slowly (10x the forward on stride 2). Instead: dilate g by the
        # stride once, pad it by k-1, and correlate with the flipped kernel (a gather, fused).
        x, w = res
        size = [x.shape[a] for a in spatial]
        count = [g.shape[a] for a in spatial]
        padded = [n + lo + hi for n, (lo, hi) in zip(size, pads)]
        dil = pad_spatial(g, [(k - 1, p - s * (c - 1) - 1) for p, c in zip(padded, count)], interior=s - 1)
        (top, _), (left, _) = pads
        dx = sum(window(dil, (top + i, left + j), size, 1) * w[k - 1 - i, k - 1 - j] for i in range(k) for j in range(k))
        # The weight gradient, for completeness; XLA drops it when only d/d input is asked for.
        xp = pad_spatial(x, pads)
        reduce = (0,) + spatial
        dw = jnp.stack([jnp.stack([jnp.sum(window(xp, (i, j), count, s) * g, axis=reduce).reshape(w.shape[2:])
                                   for j in range(k)]) for i in range(k)])
        return dx, dw

    depthwise.defvjp(depthwise_fwd, depthwise_bwd)

    def conv(p, spec, x):
        w, scale, shift = p[spec["name"]]
        h, wd = (x.shape[i] for i in spatial)
        k, s = spec["kernel"], spec["stride"]
        pads = (same_padding(h, k, s), same_padding(wd, k, s))
        if spec["depthwise"] and taps:
            y = depthwise(x, w, k, s, pads)
        else:
            y = lax.conv_general_dilated(
                x, w, window_strides=(s, s), padding=pads, dimension_numbers=dims,
                feature_group_count=spec["out"] if spec["depthwise"] else 1,
            )
        return y * scale + shift

    def relu6(v):
        return jnp.clip(v, 0.0, 6.0)

    def forward(p, x_nchw):
        # The input and its gradient stay NCHW whatever the internal layout, as in the Rust model.
        x = jnp.transpose(x_nchw, (0, 2, 3, 1)) if nhwc else x_nchw
        x = relu6(conv(p, STEM, x))
        for b in blocks():
            skip = x
            if b["expand"]:
                x = relu6(conv(p, b["expand"], x))
            x = relu6(conv(p, b["dw"], x))
            x = conv(p, b["project"], x)
            if b["residual"]:
                x = x + skip
        x = relu6(conv(p, HEAD, x))
        fc_w, fc_b = p["fc"]
        return jnp.mean(x, axis=spatial) @ fc_w + fc_b

    def class_logit(p, x):
        logits = forward(p, x)
        return logits[0, cls], logits

    # d logit[cls] / d input, returning the logits too, as the Rust backward pass does.
    return params, jax.jit(forward), jax.jit(jax.grad(class_logit, argnums=1, has_aux=True))


def jax_peer(weights, x, ref_logits, ref_grad, cls, args):
    params, fwd, fwd_bwd = jax_model(weights, cls, args.jax_layout, args.jax_depthwise)
    import jax
    import jaxlib

    xj = jax.device_put(x)
    t0 = time.perf_counter()
    logits = np.asarray(fwd(params, xj).block_until_ready())
    log(f"jax: forward compiled and ran in {time.perf_counter() - t0:.2f} s ({args.jax_layout}, depthwise as {args.jax_depthwise})")
    diff = check_logits("jax", logits, ref_logits)

    t0 = time.perf_counter()
    grad, logits2 = jax.block_until_ready(fwd_bwd(params, xj))
    log(f"jax: forward+backward compiled and ran in {time.perf_counter() - t0:.2f} s")
    check_logits("jax (fwd+bwd pass)", logits2, ref_logits)
    grad_err = None
    if ref_grad is not None:
        grad_err = rel_l2(grad, ref_grad)
        log(f"jax: relative L2 error of d logit[{cls}]/d input = {grad_err:.3g}")
        if not grad_err <= GRAD_TOLERANCE:
            raise Refused(f"jax: input gradient differs from the reference (relative L2 {grad_err:.3g} > {GRAD_TOLERANCE})")

    def timings():
        return {
            "forward_s": time_runs(lambda: fwd(params, xj).block_until_ready(), args.runs, args.warmup),
            "fwd_bwd_s": time_runs(lambda: jax.block_until_ready(fwd_bwd(params, xj)), args.runs, args.warmup),
        }

    info = {
        "version": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "device": str(jax.devices()[0]),
        "layout": args.jax_layout.upper(),
        "depthwise": "k*k strided slices" if args.jax_depthwise == "taps" else "lax.conv_general_dilated(feature_group_count=C)",
        # XLA:CPU sizes its intra-op thread pool to the CPUs this process may run on.
        "threads": available_cores(),
        "max_abs_logit_diff": diff,
        "grad_rel_l2_err": grad_err,
        "grad_class": cls,
    }
    return info, timings


# ---------------------------------------------------------------------------------------------
# ONNX Runtime


ONNX_OPSET = 17  # every op used here has been stable since opset 13; 17 is widely supported


def onnx_model(weights, side):
    """The network as an ONNX graph, node by node, with static shapes and explicit SAME pads."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    zero, six = const("relu6.min", np.array(0.0)), const("relu6.max", np.array(6.0))

    def conv(x, spec, size, act):
        """Conv -> Mul(scale) -> Add(shift) [-> Clip(0, 6)]; returns the output name and spatial size."""
        name, k, s = spec["name"], spec["kernel"], spec["stride"]
        before, after = same_padding(size, k, s)
        y = f"{name}.conv"
        nodes.append(helper.make_node(
            "Conv", [x, const(f"{name}.weight", weights[f"{name}.weight"])], [y], name=y,
            kernel_shape=[k, k], strides=[s, s], pads=[before, before, after, after],
            group=spec["out"] if spec["depthwise"] else 1,
        ))
        # [C,1,1] broadcasts against [N,C,H,W]; ORT folds these into the conv when it can.
        for op, part in (("Mul", "scale"), ("Add", "shift")):
            out = f"{name}.{part}d"
            nodes.append(helper.make_node(op, [y, const(f"{name}.{part}", weights[f"{name}.{part}"].reshape(-1, 1, 1))], [out], name=out))
            y = out
        if act:
            nodes.append(helper.make_node("Clip", [y, zero, six], [f"{name}.relu6"], name=f"{name}.relu6"))
            y = f"{name}.relu6"
        return y, -(-size // s)

    x, size = conv("input", STEM, side, act=True)
    for b in blocks():
        skip = x
        if b["expand"]:
            x, size = conv(x, b["expand"], size, act=True)
        x, size = conv(x, b["dw"], size, act=True)
        x, size = conv(x, b["project"], size, act=False)
        if b["residual"]:
            name = b["project"]["name"].replace("project", "residual")
            nodes.append(helper.make_node("Add", [x, skip], [name], name=name))
            x = name
    x, size = conv(x, HEAD, size, act=True)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    nodes.append(helper.make_node(
        "Gemm", ["features", const("fc.weight", weights["fc.weight"]), const("fc.bias", weights["fc.bias"])],
        ["logits"], name="fc", transB=1,
    ))

    graph = helper.make_graph(
        nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, NUM_CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="thinktwice-bench",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    # The IR version that goes with the opset, not the newest the onnx package knows, so that
    # older runtimes load the file too.
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", ONNX_OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model


def onnxruntime_peer(weights, x, ref_logits, _ref_grad, _cls, args):
    import onnx
    import onnxruntime as ort

    model = onnx_model(weights, x.shape[-1])
    if args.save_onnx:
        onnx.save(model, args.save_onnx)
        log(f"onnxruntime: wrote the graph to {args.save_onnx}")

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's default (0) means physical cores; ask for every core we may use, like XLA does.
    opts.intra_op_num_threads = available_cores()
    opts.log_severity_level = 3  # errors only: stderr stays readable
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    log(f"onnxruntime: session built in {time.perf_counter() - t0:.2f} s "
        f"({len(model.graph.node)} nodes, opset {ONNX_OPSET})")
    feed = {"input": x}
    diff = check_logits("onnxruntime", sess.run(["logits"], feed)[0], ref_logits)

    info = {
        "version": ort.__version__,
        "onnx": onnx.__version__,
        "opset": ONNX_OPSET,
        "provider": sess.get_providers()[0],
        "graph_optimization": "ORT_ENABLE_ALL",
        "layout": "NCHW",
        "threads": opts.intra_op_num_threads,
        "max_abs_logit_diff": diff,
    }
    return info, lambda: {"forward_s": time_runs(lambda: sess.run(["logits"], feed), args.runs, args.warmup)}


def jax_plain_peer(weights, x, ref_logits, ref_grad, cls, args):
    """JAX as most people would write it: grouped lax.conv for the depthwise layers, jax.grad."""
    plain = argparse.Namespace(**{**vars(args), "jax_depthwise": "conv"})
    info, timings = jax_peer(weights, x, ref_logits, ref_grad, cls, plain)
    return info, timings


# "jax" is the tuned one (depthwise as taps, hand-written backward): the stronger peer.
PEERS = {"jax": jax_peer, "jax-plain": jax_plain_peer, "onnxruntime": onnxruntime_peer}


# ---------------------------------------------------------------------------------------------


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="thinktwice f32 safetensors weight file")
    ap.add_argument("--input", required=True, help="1x3xSxS float32 NCHW input, raw little-endian")
    ap.add_argument("--logits", required=True, help="reference logits for that input, 1000 float32")
    ap.add_argument("--grad", help="reference d logit[CLASS] / d input (1x3xSxS float32): checks JAX's fwd+bwd")
    ap.add_argument("--class", dest="cls", type=int, required=True, help="class whose logit fwd+bwd differentiates")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per measurement (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs before timing (default 3)")
    ap.add_argument("--peers", default="jax,jax-plain,onnxruntime", help="comma-separated subset of: " + ",".join(PEERS))
    ap.add_argument("--jax-layout", choices=["nhwc", "nchw"], default="nhwc",
                    help="JAX's internal activation layout (default nhwc, the faster on XLA:CPU); input and gradient are NCHW either way")
    ap.add_argument("--jax-depthwise", choices=["taps", "conv"], default="taps",
                    help="JAX depthwise convolution as k*k strided slices (default: the faster on XLA:CPU) or as a grouped lax.conv")
    ap.add_argument("--save-onnx", metavar="PATH", help="also write the ONNX graph to PATH")
    args = ap.parse_args()

    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown or not peers:
        ap.error(f"unknown peer(s) {unknown}; choose from {', '.join(PEERS)}")
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    if not 0 <= args.cls < NUM_CLASSES:
        ap.error(f"--class must be in 0..{NUM_CLASSES - 1}")

    weights = load_weights(args.weights)
    x = read_input(args.input)
    ref_logits = read_f32(args.logits, "logits").astype(np.float64)
    if ref_logits.size != NUM_CLASSES:
        raise SystemExit(f"peers: {args.logits} holds {ref_logits.size} floats, expected {NUM_CLASSES}")
    ref_grad = None
    if args.grad:
        ref_grad = read_f32(args.grad, "gradient")
        if ref_grad.size != x.size:
            raise SystemExit(f"peers: {args.grad} holds {ref_grad.size} floats, the input {x.size}")

    # Build and check every peer before timing any: a wrong peer fails fast, and no peer's
    # timings run while another's compilation threads are still busy.
    try:
        built = {p: PEERS[p](weights, x, ref_logits, ref_grad, args.cls, args) for p in peers}
    except Refused as e:
        print(f"peers: refusing to time: {e}", file=sys.stderr)
        return 1

    result = {}
    for p, (info, timings) in built.items():
        log(f"{p}: timing {args.runs} runs after {args.warmup} warm-up runs")
        info.update(timings())
        result[p] = info
        log(f"{p}: " + ", ".join(f"{k} median {v['median'] * 1e3:.1f} ms" for k, v in info.items() if k.endswith("_s")))
    result.update({
        "threads": available_cores(),
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "input_shape": list(x.shape),
    })
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
