"""The base of every per-image prediction output (probs, boxes, masks, keypoints)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Array = torch.Tensor | np.ndarray


class TensorView:
    """A per-image output held as a torch tensor or a numpy array (``data``).

    ``cpu()``, ``numpy()`` and ``to()`` return a new object of the same class; numpy functions
    accept it directly (``np.stack([r.probs for r in results])``).
    """

    def __init__(self, data: Array | Any) -> None:
        self.data: Array = data if isinstance(data, Array) else torch.as_tensor(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def cpu(self) -> TensorView:
        """A copy with the data on the CPU (numpy data is returned as it is)."""
        return self._new(self.data.cpu() if isinstance(self.data, torch.Tensor) else self.data)

    def numpy(self) -> TensorView:
        """A copy holding a numpy array (detached, on the CPU)."""
        if isinstance(self.data, np.ndarray):
            return self._new(self.data)
        return self._new(self.data.detach().cpu().numpy())

    def to(self, *args: Any, **kwargs: Any) -> TensorView:
        """A copy holding a tensor moved / cast as ``torch.Tensor.to`` would."""
        return self._new(torch.as_tensor(self.data).to(*args, **kwargs))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy().data
        return np.array(array, dtype=dtype, copy=True) if copy else np.asarray(array, dtype)

    def __len__(self) -> int:
        return len(self.data)

    def _new(self, data: Array) -> TensorView:
        return type(self)(data)
