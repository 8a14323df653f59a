"""``ferrovino.properties.intel_cpu``: CPU-specific keys (accepted by name; the CPU plugin decides what it supports)."""

from ferrovino.properties._properties import BOOL, FLOAT, Property, PropertyEnum, enum_of


class TbbPartitioner(PropertyEnum):
    """``TBB_PARTITIONER`` values."""

    STATIC = 1
    AUTO = 2


denormals_optimization = Property("CPU_DENORMALS_OPTIMIZATION", BOOL, "denormals_optimization")
sparse_weights_decompression_rate = Property("CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE", FLOAT,
                                             "sparse_weights_decompression_rate")
tbb_partitioner = Property("TBB_PARTITIONER", enum_of(TbbPartitioner), "tbb_partitioner")
