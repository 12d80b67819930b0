"""The toolkit's own kernels: fused and unfused LSTM/GRU cells and roofline microbenchmarks.

* :mod:`kernels.weights`     — cell weights (PyTorch layout) and the shape checks run before any kernel
* :mod:`kernels.reference`   — float64 numpy reference of the cell math
* :mod:`kernels.bytes_model` — bytes and FLOPs each cell version must move and do; the unfused programs
* :mod:`kernels.rnn_cpu`     — numba CPU cells, fused and unfused
* :mod:`kernels.rnn_gpu`     — numba.cuda fused cells and a GPU layer
* :mod:`kernels.stream`      — STREAM copy/scale/add/triad and FMA peak, CPU and GPU
* :mod:`kernels.gpu`         — whether the GPU kernels can run here, and why not

Importing this package imports nothing; numba and numpy load with the submodules that need them.
"""
