"""``cudnn_gru``: a GRU text classifier, fused (cuDNN/oneDNN) vs an unfused cell loop."""

from profiler.core.scenario import Implementation, Scenario
from scenarios import rnn
from scenarios.rnn import MXNET_RNN_VARIANTS, NUMBA_RNN_VARIANTS, RNN_PRESETS, TORCH_RNN_VARIANTS

SCENARIO = Scenario(
    name="cudnn_gru",
    summary="GRU classifier (embedding → GRU → linear): fused kernel vs unfused cell loop",
    origin="seed note 4 and DeepLearningFrameworks' IMDB GRU benchmark (the seed's RNN reference)",
    implementations=(
        Implementation("torch", TORCH_RNN_VARIANTS, module="scenarios.rnn.torch_rnn"),
        Implementation("tensorflow", rnn.TF_RNN_VARIANTS, module="scenarios.rnn.tensorflow_rnn"),
        Implementation("keras", rnn.KERAS_RNN_VARIANTS, module="scenarios.rnn.keras_rnn"),
        Implementation("mxnet", MXNET_RNN_VARIANTS, module="scenarios.rnn.mxnet_rnn"),
        Implementation("numba", NUMBA_RNN_VARIANTS, module="scenarios.rnn.kernels_rnn"),
    ),
    presets={k: {**v, "cell": "gru"} for k, v in RNN_PRESETS.items()},
    modes=("train", "infer"),
    default_mode="train",
)
