"""Shared RNN workload code for the ``cudnn_lstm`` and ``cudnn_gru`` scenarios (no SCENARIO here)."""

from __future__ import annotations

from profiler.core.scenario import Variant

#: The seed's RNN sizes (DeepLearningFrameworks' IMDB GRU: embedding 125, hidden 100, sequence 150,
#: batch 64, vocabulary 30k) and a CPU preset that runs in seconds on two cores.
RNN_PRESETS = {
    "cpu": {
        "batch": 32,
        "seq_len": 50,
        "embed": 125,
        "hidden": 100,
        "vocab": 30000,
        "classes": 2,
        "warmup": 3,
        "steps": 10,
        "trace_steps": 3,
    },
    "seed": {
        "batch": 64,
        "seq_len": 150,
        "embed": 125,
        "hidden": 100,
        "vocab": 30000,
        "classes": 2,
        "warmup": 5,
        "steps": 30,
        "trace_steps": 5,
    },
}

TORCH_RNN_VARIANTS = (
    Variant("fused", "nn.LSTM/nn.GRU: one fused kernel per layer (cuDNN on a GPU, oneDNN on CPU)"),
    Variant("unfused", "the same cell math as separate tensor ops in a Python loop over time steps"),
    Variant("unfused_layernorm", "unfused plus layer norm on the gates: the flexibility cuDNN lacks"),
)

MXNET_RNN_VARIANTS = (
    Variant("fused", "gluon.rnn.LSTM/GRU: one fused RNN operator per layer, hybridized"),
    Variant("unfused", "gluon.rnn.LSTMCell/GRUCell.unroll: per-step GEMMs and gate ops, hybridized"),
)

#: The toolkit's own kernels (kernels/): same gate math, same BLAS GEMMs; only fusion differs.
NUMBA_RNN_VARIANTS = (
    Variant("kernels_fused", "own numba cell: BLAS GEMMs + one fused parallel pass per step (CPU)"),
    Variant("kernels_unfused", "own numba cell: BLAS GEMMs + one parallel pass per elementwise op (CPU)"),
    Variant("kernels_fused_gpu", "cuBLAS GEMMs + own numba.cuda fused cell kernel per step", needs_gpu=True),
    Variant("kernels_seq_gpu", "input GEMM + one numba.cuda launch for the whole sequence, state on chip",
            needs_gpu=True),
)

#: TensorFlow in tf.function (scenarios/rnn/tensorflow_rnn.py): TF's own fused RNN kernels vs ops.
TF_RNN_VARIANTS = (
    Variant("fused", "LSTM: one BlockLSTMV2 op per sequence; GRU: one GRUBlockCell op per step"),
    Variant("unfused", "the same cell math as MatMul + elementwise ops per step, unrolled in a tf.function"),
)

#: Keras on TF (scenarios/rnn/keras_rnn.py).
KERAS_RNN_VARIANTS = (
    Variant("fused", "keras.layers.LSTM/GRU: cuDNN kernel on a GPU, a tf.while_loop of cell ops on CPU"),
    Variant("unfused", "keras.layers.RNN(LSTMCell/GRUCell, unroll=True): the cell unrolled per step"),
)
