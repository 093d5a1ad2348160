"""DRML's region layer (Zhao, Chu, Zhang 2016, Sec. 3.2, Fig. 3) as one Keras layer."""

from __future__ import annotations

import keras
from keras import ops


def _pair(value, what: str) -> tuple[int, int]:
    """`value` as two positive integers (an int is used for both)."""
    if isinstance(value, bool):
        raise ValueError(f"`{what}` must be a positive integer or two of them. Received: {what}={value!r}")
    try:
        values = (value, value) if isinstance(value, int) else tuple(value)
    except TypeError:
        raise ValueError(f"`{what}` must be a positive integer or two of them. Received: {what}={value!r}") from None
    if len(values) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in values):
        raise ValueError(f"`{what}` must be a positive integer or two of them. Received: {what}={value!r}")
    return int(values[0]), int(values[1])


@keras.saving.register_keras_serializable(package="aufera")
class RegionLayer(keras.layers.Layer):
    """The region layer of DRML: a grid of cells, each with its own BN, ReLU and convolution, plus the identity.

    The input map (N, H, W, C) is cut into a `grid` of equal cells
    (8 x 8 cells of 20 x 20 on DRML's 160 x 160 map). Each cell, with its
    own weights:

        y_cell = conv(relu(batch_norm(x_cell))) + x_cell

    where `batch_norm` normalises each channel by the statistics of that cell
    over the batch (training) or by the cell's moving statistics
    (inference), exactly as a `keras.layers.BatchNormalization` applied to
    the cell alone; `conv` is a `kernel_size` convolution with C output
    channels, zero-padded at the cell's border (a cell sees none of its
    neighbours), with a bias. The cells are put back in place: the output
    has the input's shape.

    One layer, computed without slicing into 64 sub-layers: the map is
    rearranged once so that the cells lie along a leading axis, batch
    normalisation and ReLU run on all cells at once, and each cell's
    convolution is one small convolution over its contiguous block (under
    XLA, as DRML trains, that is as fast as one convolution over the whole
    map: `benchmarks/bench_drml.py`). Cell `g` is row `g // grid[1]`,
    column `g % grid[1]`.

    Weights (cells = grid[0] * grid[1]): `gamma`, `beta`, `moving_mean`,
    `moving_variance` of shape (cells, C); `kernel` (cells, k, k, C, C);
    `bias` (cells, C).

    Args:
        grid: int or 2 ints. Cells along the height and the width. Defaults
            to (8, 8).
        kernel_size: int. Side of each cell's convolution (odd). Defaults to 3.
        epsilon: float. Batch-normalisation epsilon. Defaults to 1e-3.
        momentum: float. Momentum of the moving statistics. Defaults to 0.99.
        kernel_initializer: initializer of one cell's kernel (k, k, C, C).
            Each cell gets its own draw: a seeded initializer gives cell g
            the seed + g, an unseeded one a new seed per cell (reproducible
            under `keras.utils.set_random_seed`). Defaults to "glorot_uniform".
        **kwargs: passed to `keras.layers.Layer` (e.g. `name`).

    Raises:
        ValueError: at build, in one line naming the shape and the grid, when
            the map's height or width is not a multiple of the grid.

    Examples:

    ```python
    layer = RegionLayer(grid=(8, 8))
    y = layer(np.zeros((2, 160, 160, 32), "float32"))  # (2, 160, 160, 32)
    ```

    References:
        Zhao, Chu, Zhang 2016, "Deep Region and Multi-label Learning for
        Facial Action Unit Detection", CVPR, Sec. 3.2, Fig. 3.
    """

    def __init__(
        self,
        grid=(8, 8),
        kernel_size: int = 3,
        epsilon: float = 1e-3,
        momentum: float = 0.99,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid = _pair(grid, "grid")
        if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be an odd positive integer. Received: kernel_size={kernel_size!r}")
        self.kernel_size = int(kernel_size)
        if not float(epsilon) > 0.0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum!r}")
        self.epsilon, self.momentum = float(epsilon), float(momentum)
        # Training-time only, not saved: statistics over the global batch of all replicas (set by aufera.training
        # under several replicas, as `keras.layers.BatchNormalization(synchronized=True)`).
        self.synchronized = False
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def cells(self) -> int:
        return self.grid[0] * self.grid[1]

    def build(self, input_shape):
        height, width, channels = input_shape[1], input_shape[2], input_shape[3]
        if height is None or width is None or channels is None:
            raise ValueError(f"RegionLayer needs a known height, width and channels. Received: shape={input_shape}")
        if height % self.grid[0] or width % self.grid[1]:
            raise ValueError(
                f"RegionLayer: a {height}x{width} map cannot be cut into a {self.grid[0]}x{self.grid[1]} grid "
                f"(height and width must be multiples of the grid). Received: shape={tuple(input_shape)}, "
                f"grid={self.grid}"
            )
        self.cell_shape = (height // self.grid[0], width // self.grid[1])
        cells, k = self.cells, self.kernel_size
        stats = (cells, channels)
        self.gamma = self.add_weight(shape=stats, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=stats, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=stats, initializer="zeros", name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape=stats, initializer="ones", name="moving_variance", trainable=False)
        cell_initializers = self._cell_initializers(cells)

        def kernel_init(shape, dtype=None):
            return ops.stack([init(shape[1:], dtype=dtype) for init in cell_initializers])

        self.kernel = self.add_weight(shape=(cells, k, k, channels, channels), initializer=kernel_init, name="kernel")
        self.bias = self.add_weight(shape=stats, initializer="zeros", name="bias")

    def _cell_initializers(self, cells: int) -> list:
        """One kernel initializer per cell, each drawing its own values.

        A Keras initializer without a seed fixes one when it is made, so the
        same instance called 64 times would give 64 equal kernels.
        """
        init = self.kernel_initializer
        config = init.get_config()
        if "seed" not in config:  # deterministic initializers (zeros, ones, constants)
            return [init] * cells
        seed = config["seed"]
        return [
            type(init).from_config({**config, "seed": None if seed is None else int(seed) + g}) for g in range(cells)
        ]

    # --- the cell layout ---

    def _to_cells(self, x):
        """(N, H, W, C) -> (cells, N, h, w, C), cell g = row * grid[1] + column."""
        (gh, gw), (h, w), c = self.grid, self.cell_shape, x.shape[-1]
        x = ops.reshape(x, (-1, gh, h, gw, w, c))
        x = ops.transpose(x, (1, 3, 0, 2, 4, 5))
        return ops.reshape(x, (gh * gw, -1, h, w, c))

    def _from_cells(self, y):
        """The inverse of `_to_cells`."""
        (gh, gw), (h, w), c = self.grid, self.cell_shape, y.shape[-1]
        y = ops.reshape(y, (gh, gw, -1, h, w, c))
        y = ops.transpose(y, (2, 0, 3, 1, 4, 5))
        return ops.reshape(y, (-1, gh * h, gw * w, c))

    def call(self, inputs, training=None):
        cells = self._to_cells(inputs)
        shape = (self.cells, 1, 1, 1, -1)  # per cell and channel, broadcast over batch and pixels
        if training:
            mean, variance = ops.moments(cells, axes=(1, 2, 3), keepdims=True, synchronized=self.synchronized)
            m = ops.cast(self.momentum, self.moving_mean.dtype)
            batch_mean = ops.cast(ops.reshape(mean, (self.cells, -1)), self.moving_mean.dtype)
            batch_variance = ops.cast(ops.reshape(variance, (self.cells, -1)), self.moving_variance.dtype)
            self.moving_mean.assign(self.moving_mean * m + batch_mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + batch_variance * (1.0 - m))
        else:
            mean = ops.reshape(ops.cast(self.moving_mean, cells.dtype), shape)
            variance = ops.reshape(ops.cast(self.moving_variance, cells.dtype), shape)
        gamma = ops.reshape(ops.cast(self.gamma, cells.dtype), shape)
        beta = ops.reshape(ops.cast(self.beta, cells.dtype), shape)
        scale = gamma * ops.rsqrt(variance + self.epsilon)
        activated = ops.relu(cells * scale + (beta - mean * scale))
        # Unstacked, not indexed: in graph mode the gradient of 64 slices `x[g]` is 64 zero-filled copies of
        # the whole map, that of `unstack` is one stack.
        kernels = ops.unstack(ops.cast(self.kernel, cells.dtype), axis=0)
        biases = ops.unstack(ops.cast(self.bias, cells.dtype), axis=0)
        convolved = ops.stack(
            [
                ops.conv(cell, kernel, padding="same") + bias
                for cell, kernel, bias in zip(ops.unstack(activated, axis=0), kernels, biases, strict=True)
            ]
        )
        return self._from_cells(convolved + cells)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            grid=list(self.grid),
            kernel_size=self.kernel_size,
            epsilon=self.epsilon,
            momentum=self.momentum,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
