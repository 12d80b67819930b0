"""Re-record ``tiny_train.xplane.pb``: two traced steps of a tiny dense+conv model trained in a tf.function.

Run from the repository root: ``.venv/bin/python tests/data/xspace/record.py``. It writes the XSpace
next to this file and ``tiny_train.json`` with the Unix-ns wall clock read just before the profiler
started and just after it stopped (what tests/test_xspace.py checks the clock re-basing against).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import tensorflow as tf

HERE = Path(__file__).resolve().parent


def main() -> None:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(0)
    conv = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    dense = tf.keras.layers.Dense(3)
    opt = tf.keras.optimizers.SGD(0.01)
    x = tf.random.uniform((2, 8, 8, 3))
    y = tf.constant([0, 2])

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = dense(tf.reduce_mean(conv(x), axis=[1, 2]))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        vs = conv.trainable_variables + dense.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, vs), vs, strict=True))
        return loss

    step(x, y)  # trace outside the profile
    logdir = Path(tempfile.mkdtemp(prefix="xspace-"))
    try:
        before = time.time_ns()
        tf.profiler.experimental.start(str(logdir))
        for i in range(2):
            with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
                step(x, y).numpy()
        tf.profiler.experimental.stop()
        after = time.time_ns()
        (src,) = logdir.rglob("*.xplane.pb")
        shutil.copyfile(src, HERE / "tiny_train.xplane.pb")
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    (HERE / "tiny_train.json").write_text(
        json.dumps({"tf_version": tf.__version__, "wall_before_start_ns": before, "wall_after_stop_ns": after})
        + "\n"
    )


if __name__ == "__main__":
    main()
