"""The one vocabulary of the breakdown: category names, their order, labels, short names and colours.

Every output uses this module: the analysis (order = priority of attribution, see docs/breakdown.md),
the terminal report (``TERMINAL_COLORS``, rich colour names), every plot and the HTML report
(``COLORS``, hex), the JSON (the names) and the CSV columns.
"""

from __future__ import annotations

DATA_LOADING = "data_loading"
COMMUNICATION = "communication"
MEMORY_IO = "memory_io"
COMPUTE = "compute"
FRAMEWORK_OVERHEAD = "framework_overhead"
IDLE = "idle"

#: The categories, in the order they are attributed and shown.
CATEGORIES: tuple[str, ...] = (DATA_LOADING, COMMUNICATION, MEMORY_IO, COMPUTE, FRAMEWORK_OVERHEAD, IDLE)

LABELS: dict[str, str] = {
    DATA_LOADING: "data loading",
    COMMUNICATION: "communication",
    MEMORY_IO: "memory I/O",
    COMPUTE: "compute",
    FRAMEWORK_OVERHEAD: "framework overhead",
    IDLE: "idle",
}

#: Short names for narrow tables and bar legends.
SHORT: dict[str, str] = {
    DATA_LOADING: "data",
    COMMUNICATION: "comm",
    MEMORY_IO: "mem",
    COMPUTE: "comp",
    FRAMEWORK_OVERHEAD: "fw",
    IDLE: "idle",
}

#: Hex colours for plots and HTML (colour-blind-friendly pairs: no red/green adjacency).
COLORS: dict[str, str] = {
    DATA_LOADING: "#b04fc4",
    COMMUNICATION: "#1fa7b8",
    MEMORY_IO: "#e0b000",
    COMPUTE: "#3a9d3a",
    FRAMEWORK_OVERHEAD: "#d24b4b",
    IDLE: "#9a9a9a",
}

#: The same colours as rich names, for the terminal.
TERMINAL_COLORS: dict[str, str] = {
    DATA_LOADING: "magenta",
    COMMUNICATION: "cyan",
    MEMORY_IO: "yellow",
    COMPUTE: "green",
    FRAMEWORK_OVERHEAD: "red",
    IDLE: "bright_black",
}

#: What a reader can do about the time in each category but compute (the work itself), in one clause:
#: the report's "fix first" line names the largest of them.
REMEDIES: dict[str, str] = {
    DATA_LOADING: "the step waits for input: more loader workers, prefetching, data held in memory",
    COMMUNICATION: "collectives are exposed: overlap them with compute (bucketing), or fewer/larger messages",
    MEMORY_IO: "memory-bound work: fuse element-wise ops, keep tensors in cache, lower precision",
    FRAMEWORK_OVERHEAD: "the framework's dispatch dominates: fuse small ops (see the repeated op chains), "
                        "larger batches, graphs/compilation",
    IDLE: "nothing runs: host-device syncs or waits; remove synchronisations, overlap host work",
}
