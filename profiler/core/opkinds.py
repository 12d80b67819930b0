"""What kind of work an op or kernel name stands for, across frameworks.

The kind decides the breakdown category when no FLOP/byte figures are available: GEMM, convolution
and fused RNN kernels do many FLOPs per byte (compute); elementwise, copies, reductions, norms,
pooling, softmax and gathers do a few FLOPs per byte, far below any machine's balance point (memory
I/O); views, allocations and autograd bookkeeping move no data at all (framework overhead).
"""

from __future__ import annotations

import re
from functools import lru_cache

from profiler.core.frameworks import FRAMEWORKS

COMPUTE, MEMORY, OVERHEAD = "compute", "memory_io", "framework_overhead"

#: CUDA runtime/driver calls in which the host waits for the device (the ``sync`` span category).
_CUDA_SYNC = frozenset(
    {
        "cudaDeviceSynchronize",
        "cudaStreamSynchronize",
        "cudaEventSynchronize",
        "cudaStreamWaitEvent",
        "cuCtxSynchronize",
        "cuStreamSynchronize",
        "cuEventSynchronize",
    }
)
#: Their HIP (ROCm) twins, as roctracer names them in a Kineto trace recorded on AMD GPUs.
HIP_SYNC_CALLS = frozenset(
    {
        "hipDeviceSynchronize",
        "hipStreamSynchronize",
        "hipEventSynchronize",
        "hipStreamWaitEvent",
        "hipCtxSynchronize",
    }
)
#: Calls in which the host waits for the device, CUDA and HIP (the name is older than HIP support).
CUDA_SYNC_CALLS = SYNC_CALLS = _CUDA_SYNC | HIP_SYNC_CALLS
#: Calls that put one graph of many device activities on a stream: one call, one correlation id,
#: every activity of the graph carrying that id.
GRAPH_LAUNCH_CALLS = frozenset({"cudaGraphLaunch", "cuGraphLaunch", "hipGraphLaunch"})
#: Calls that launch kernels (runtime and driver API, CUDA and HIP), graph launches included.
LAUNCH_CALLS = GRAPH_LAUNCH_CALLS | frozenset(
    {
        "cudaLaunchKernel",
        "cudaLaunchKernelExC",
        "cudaLaunchCooperativeKernel",
        "cudaLaunchCooperativeKernelMultiDevice",
        "cuLaunchKernel",
        "cuLaunchKernelEx",
        "cuLaunchCooperativeKernel",
        "cuLaunchCooperativeKernelMultiDevice",
        "hipLaunchKernel",
        "hipExtLaunchKernel",
        "hipModuleLaunchKernel",
        "hipExtModuleLaunchKernel",
        "hipHccModuleLaunchKernel",
        "hipLaunchCooperativeKernel",
        "hipLaunchCooperativeKernelMultiDevice",
        "hipExtLaunchMultiKernelMultiDevice",
    }
)


def runtime_call_kind(name: str) -> str:
    """What a CUDA/HIP runtime or driver call does: ``"graph_launch"``, ``"launch"``, ``"sync"``,
    ``"memcpy"``, ``"memset"`` or ``"other"`` (cudaMalloc, cudaEventRecord, hipGetDeviceProperties ...).

    Names outside the sets above are matched by their stem (``...LaunchKernel...``, ``...Memcpy...``)
    so a new API version (``cudaLaunchKernel_ptsz``, ``hipMemcpyWithStream``) is still recognised.
    """
    if name in GRAPH_LAUNCH_CALLS:
        return "graph_launch"
    if name in LAUNCH_CALLS:
        return "launch"
    if name in SYNC_CALLS:
        return "sync"
    return _call_kind_by_stem(name)


@lru_cache(maxsize=4096)
def _call_kind_by_stem(name: str) -> str:
    low = name.lower()
    if not low.startswith(("cuda", "cu", "hip")):
        return "other"
    if "graphlaunch" in low:
        return "graph_launch"
    if "launchkernel" in low or "launchcooperativekernel" in low:
        return "launch"
    if "memcpy" in low:
        return "memcpy"
    if "memset" in low:
        return "memset"
    return "other"


#: The annotation torch.profiler puts around each ``next()`` on a DataLoader iterator.
DATALOADER_ANNOTATION = "enumerate(DataLoader)"

# Order matters: the first pattern that matches a lower-cased name wins. Each framework's own rules
# (``Framework.op_kind_rules``: op names the generic patterns below would misread, anchored so they
# match only that framework's names) come first.
_RULES: tuple[tuple[str, str, str], ...] = (
    *(rule for fw in FRAMEWORKS.values() for rule in fw.op_kind_rules),
    # kind, category, regex
    (
        "collective",
        "communication",
        r"nccl|allreduce|all_reduce|allgather|all_gather|reduce_scatter|broadcast_|gloo",
    ),
    ("memcpy", MEMORY, r"^memcpy|^memset|^cudamemcpy|copy_device|dtoh|htod|dtod"),
    ("autograd", OVERHEAD, r"^autograd::|backward0$|^torch::autograd|accumulategrad"),
    ("rnn", COMPUTE, r"lstm|gru|rnn_|_rnn|mkldnn_rnn|cudnn_rnn|rnn$|blocklstm|rnnforward|rnnbackward"),
    ("conv", COMPUTE, r"conv|cudnn.*(fprop|dgrad|wgrad)|implicit_gemm|winograd|fft.*conv"),
    (
        "gemm",
        COMPUTE,
        r"gemm|matmul|^aten::mm$|^aten::bmm$|addmm|^aten::linear$|fullyconnected|dense|"
        r"^aten::baddbmm|^aten::dot|einsum|cublas|cutlass|sgemm|hgemm|xmma|ampere_|sm90_|"
        r"batchmatmul|^dot$|^mm$|linear",
    ),
    ("embedding", MEMORY, r"embedding|gather|index_select|^aten::index$|take|scatter"),
    (
        "norm",
        MEMORY,
        r"batch_norm|batchnorm|layer_norm|layernorm|group_norm|instance_norm|fusedbatchnorm|"
        r"native_layer_norm|_norm_",
    ),
    ("softmax", MEMORY, r"softmax|log_softmax|cross_entropy|nll_loss|crossentropy|logsoftmax"),
    ("pool", MEMORY, r"pool|avg_pool|max_pool|adaptive_"),
    ("reduction", MEMORY, r"^aten::sum|^aten::mean|reduce|^sum$|^mean$|argmax|^aten::max$|^aten::min$|norm$"),
    (
        "copy",
        MEMORY,
        r"copy|contiguous|^aten::to$|_to_copy|^aten::cat$|^aten::stack$|concat|clone|"
        r"transpose_data|pad|^aten::repeat|expand_copy|tile",
    ),
    (
        "alloc",
        OVERHEAD,
        r"^aten::empty|^aten::zeros$|^aten::ones$|^aten::full$|empty_like|zeros_like|"
        r"ones_like|resize_|^aten::new_|set_",
    ),
    (
        "view",
        OVERHEAD,
        r"^aten::view|^aten::t$|^aten::transpose$|^aten::permute|^aten::chunk|^aten::split|"
        r"^aten::unbind|^aten::select$|^aten::slice$|^aten::squeeze|^aten::unsqueeze|"
        r"^aten::reshape|^aten::flatten|^aten::expand$|^aten::as_strided|^aten::narrow|"
        r"^aten::detach|^aten::alias|^aten::numpy_t|^aten::lift|^aten::_reshape_alias|"
        r"^aten::_unsafe_view|^aten::item$|^aten::_local_scalar_dense|^aten::result_type",
    ),
    (
        "elementwise",
        MEMORY,
        r"add|sub|mul|div|sigmoid|tanh|relu|gelu|silu|exp|log|sqrt|rsqrt|pow|neg|"
        r"abs|clamp|where|fill|zero_|dropout|threshold|elementwise|vectorized|"
        r"unrolled_elementwise|bias|lerp|addcmul|addcdiv|maximum|minimum|sign|"
        r"fused_sgd|_foreach|momentum|sgd|adam|cast|greater|less|equal|select|erf|"
        r"hardtanh|leaky|elu|softplus|reciprocal|square|floor|ceil|round|"
        r"^aten::ne$|^aten::eq$|^aten::lt$|^aten::gt$|^aten::le$|^aten::ge$|"
        r"logical|bitwise|masked",
    ),
)
_COMPILED = tuple((k, c, re.compile(r)) for k, c, r in _RULES)


@lru_cache(maxsize=65536)
def op_kind(name: str) -> tuple[str, str]:
    """``(kind, category)`` of an op or kernel name; unknown work counts as compute ("other")."""
    low = name.lower()
    for kind, cat, rx in _COMPILED:
        if rx.search(low):
            return kind, cat
    return "other", COMPUTE
