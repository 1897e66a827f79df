"""TensorRT backend: a raw plan file built by `edgekd export --trt`, run on a CUDA GPU.

One code path for TensorRT 10.x (Jetson, JetPack 6) and 11.x: tensors are addressed by name
(`set_input_shape`, `set_tensor_address`, `execute_async_v3`); the buffers are torch CUDA
tensors, so no pycuda/cuda-python is needed. The APIs that TensorRT 10 removed
(`execute_async_v2`, binding indices, `max_batch_size`) are never used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgekd.errors import ModelError
from edgekd.models import ModelCard
from edgekd.runtime.base import INPUT_NCHW_FLOAT, Backend
from edgekd.runtime.trt_env import (
    BUILD_ON_TARGET,
    device_index,
    machine_facts,
    read_sidecar,
    require_tensorrt,
    sidecar_mismatch,
)


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    table = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.INT8: torch.int8,
        trt.DataType.INT32: torch.int32,
    }
    for name, torch_dtype in (
        ("UINT8", torch.uint8),
        ("BF16", torch.bfloat16),
        ("INT64", torch.int64),
        ("BOOL", torch.bool),
    ):
        if hasattr(trt.DataType, name):  # not every 10.x release has every type
            table[getattr(trt.DataType, name)] = torch_dtype
    if dtype not in table:
        raise ModelError(f"the engine uses tensor type {dtype}, which edgekd cannot feed.")
    return table[dtype]


class TensorRTBackend(Backend):
    """A TensorRT plan with its sidecar (`<plan>.json`), on `cuda[:N]`.

    Batches larger than the engine's optimisation profile allows are run in chunks.
    """

    name = "trt"

    def __init__(self, path: str | Path, device: str = "cuda"):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"TensorRT plan not found: {path}.")
        index = device_index(device)
        sidecar = read_sidecar(path)
        trt = require_tensorrt(f"running {path.name}")
        here = machine_facts(trt, index)
        mismatch = sidecar_mismatch(sidecar["build"], here)
        if mismatch:
            raise ModelError(
                f"{path.name} was built for another machine ({mismatch}); plans are tied to the GPU and TensorRT "
                f"version. {BUILD_ON_TARGET}"
            )
        super().__init__(
            ModelCard.from_dict(sidecar["card"]),
            device=f"cuda:{index}",
            input_format=sidecar.get("input_format", INPUT_NCHW_FLOAT),
            precision=sidecar.get("precision", "fp32"),
        )
        self.metadata = sidecar
        self._torch_device = torch.device("cuda", index)
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self._torch_device):
            self._runtime = trt.Runtime(self._logger)
            if sidecar.get("dla_core") is not None:  # a DLA engine runs on the core it was built for
                self._runtime.DLA_core = int(sidecar["dla_core"])
            self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self.engine is None:
                raise ModelError(
                    f"TensorRT could not deserialise {path.name} (see the TensorRT log above). {BUILD_ON_TARGET}"
                )
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path.name} has inputs {inputs} and outputs {outputs}; edgekd engines have one of each.")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.input_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(self.input_name))
        self.output_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(self.output_name))
        _, _, max_shape = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.max_batch = int(max_shape[0])

    def run(self, inputs: torch.Tensor) -> torch.Tensor:
        """Run a prepared batch (CPU or CUDA tensor); returns float32 logits on CPU."""
        chunks = [self._run_chunk(part) for part in torch.split(inputs, self.max_batch)]
        return torch.cat(chunks).float().cpu()

    def _run_chunk(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.cuda.device(self._torch_device):
            batch = inputs.to(self._torch_device, dtype=self.input_dtype, non_blocking=True).contiguous()
            if not self.context.set_input_shape(self.input_name, tuple(batch.shape)):
                raise ModelError(
                    f"the engine does not accept input shape {tuple(batch.shape)} (profile built for up to batch "
                    f"{self.max_batch})."
                )
            logits = torch.empty(
                tuple(self.context.get_tensor_shape(self.output_name)),
                dtype=self.output_dtype,
                device=self._torch_device,
            )
            self.context.set_tensor_address(self.input_name, batch.data_ptr())
            self.context.set_tensor_address(self.output_name, logits.data_ptr())
            stream = torch.cuda.current_stream(self._torch_device)
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise ModelError("TensorRT failed to enqueue the batch (see the TensorRT log above).")
            stream.synchronize()
            return logits
