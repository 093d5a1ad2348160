"""tfrecords_tools: inspect, verify and summarize TFRecord files (TFDS shards included).

A small standalone package (TensorFlow, numpy and the standard library only)
with a command line interface::

    python -m tfrecords_tools inspect PATH [PATH...]   # counts, feature keys/kinds/shapes, images, AU base rates
    python -m tfrecords_tools verify PATH [PATH...]    # every record CRC-checked and parsed; exact offset of damage
    python -m tfrecords_tools stats PATH [PATH...]     # min/max/mean/histograms, pixel mean/std over a sample

and the same as a Python API::

    import tfrecords_tools as tt

    report = tt.inspect_files("data/tiny_au/1.0.0")  # a folder: all *.tfrecord* files inside
    problems = tt.verify_files(["a.tfrecord", "shards/*.tfrecord-*"])  # [] when all are valid
    stats = tt.feature_stats("a.tfrecord", sample=1000)

A PATH is a file, a glob or a folder (searched recursively for ``*.tfrecord*``).
Importing this package does not import TensorFlow; the functions do on first use.
See docs/tfrecords_tools.md.
"""

from tfrecords_tools.framing import (
    Frame,
    FramingError,
    InputPathError,
    crc32c,
    iter_frames,
    mask_crc,
    masked_crc32c,
    resolve_paths,
)
from tfrecords_tools.inspect import inspect_files
from tfrecords_tools.stats import feature_stats
from tfrecords_tools.verify import FileCheck, Problem, verify_file, verify_files

__version__ = "0.1.0"

__all__ = [
    "FileCheck",
    "Frame",
    "FramingError",
    "InputPathError",
    "Problem",
    "crc32c",
    "feature_stats",
    "inspect_files",
    "iter_frames",
    "mask_crc",
    "masked_crc32c",
    "resolve_paths",
    "verify_file",
    "verify_files",
]
