"""Teacher logits for every training batch: read from the cache when it holds the epoch,
otherwise computed by running the teachers (and then recorded into the cache)."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.distributed as dist

from edgekd.data import Batch
from edgekd.distill.cache import TeacherCache, epoch_table
from edgekd.distill.teachers import TeacherBank

# Epoch tables above this size stay in host memory instead of moving to the GPU.
_DEVICE_TABLE_LIMIT = 1 << 30  # bytes


class TeacherTargets:
    """Serves each teacher's logits for a batch by (epoch, sample index).

    Args:
        bank: the frozen teachers.
        cache: the teacher-logit cache, or None to always run the teachers.
        num_samples: size of the training split (rows of an epoch table).
        num_classes: columns of an epoch table.
    """

    def __init__(self, bank: TeacherBank, cache: TeacherCache | None, num_samples: int, num_classes: int):
        self.bank = bank
        self.cache = cache
        self.num_samples = num_samples
        self.num_classes = num_classes
        self.epoch = 0
        self._tables: dict[int, torch.Tensor] = {}  # teacher index → this epoch's cached table
        self._complete: dict[int, bool] = {}  # no NaN rows: skip per-batch checks
        self._recorded: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.online_steps = 0
        self.cached_steps = 0

    def __len__(self) -> int:
        return len(self.bank)

    def start_epoch(self, epoch: int, device: torch.device) -> list[int]:
        """Load this epoch's cached tables; returns the teachers that will run online."""
        self.epoch = epoch
        self._tables, self._complete, self._recorded = {}, {}, {}
        if self.cache is None:
            return list(range(len(self.bank)))
        for index, teacher in enumerate(self.bank.teachers):
            table = self.cache.load(teacher.cache_id, epoch_table(epoch), self.num_samples, self.num_classes)
            if table is None:
                self._recorded[index] = []  # every rank records: end_epoch gathers collectively
                continue
            if device.type == "cuda" and table.numel() * 2 <= _DEVICE_TABLE_LIMIT:
                table = table.to(device)
            self._tables[index] = table
            self._complete[index] = not bool(torch.isnan(table).any())
        return [i for i in range(len(self.bank)) if i not in self._tables]

    def logits(self, pixels: torch.Tensor, batch: Batch, run: Iterable[int] = ()) -> list[torch.Tensor]:
        """Each teacher's (B, num_classes) logits for `batch`, float32.

        Args:
            pixels: the augmented [0, 1] batch the student sees (used when a teacher runs).
            run: teachers to run even if cached (e.g. for their features through taps).
        """
        online = set(run) | {i for i in range(len(self.bank)) if i not in self._tables}
        found: dict[int, torch.Tensor] = {}
        for index, table in self._tables.items():
            if index in online:
                continue
            rows = table[batch.indices.to(table.device)]
            if not self._complete[index] and torch.isnan(rows).any():
                online.add(index)  # a sample the recording run never saw: compute it now
                continue
            found[index] = rows.to(pixels.device, non_blocking=True).float()
        if online:
            found.update(self.bank(pixels, sorted(online)))
            self.online_steps += 1
            for index in online:
                if index in self._recorded:
                    self._recorded[index].append((batch.indices.cpu(), found[index].detach().to("cpu", torch.float16)))
        else:
            self.cached_steps += 1
        return [found[i].float() for i in range(len(self.bank))]

    def end_epoch(self, epoch: int) -> list[int]:
        """Write the logits recorded during `epoch` (gathered over DDP ranks); returns the
        teachers whose table was written. Every rank must call this."""
        written = []
        for index, records in sorted(self._recorded.items()):
            indices = torch.cat([r[0] for r in records]) if records else torch.empty(0, dtype=torch.int64)
            values = (
                torch.cat([r[1] for r in records]) if records else torch.empty(0, self.num_classes, dtype=torch.float16)
            )
            indices, values = _gather(indices, values)
            if self.cache is None or not self.cache.writable or len(indices) == 0:
                continue
            table = torch.full((self.num_samples, self.num_classes), float("nan"), dtype=torch.float16)
            table[indices] = values
            self.cache.save(self.bank.teachers[index].cache_id, epoch_table(epoch), table)
            written.append(index)
        self._recorded = {}
        return written


def _gather(indices: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate every rank's (indices, values) on all ranks (unchanged without DDP)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return indices, values
    world = dist.get_world_size()
    # gloo needs CPU tensors and NCCL CUDA ones; the tables are small, so move as needed.
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    count = torch.tensor([len(indices)], device=device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    longest = int(max(c.item() for c in counts))
    padded_indices = torch.zeros(longest, dtype=torch.int64, device=device)
    padded_values = torch.zeros(longest, values.shape[1], dtype=torch.float32, device=device)
    padded_indices[: len(indices)] = indices.to(device)
    padded_values[: len(values)] = values.to(device, torch.float32)
    all_indices = [torch.zeros_like(padded_indices) for _ in range(world)]
    all_values = [torch.zeros_like(padded_values) for _ in range(world)]
    dist.all_gather(all_indices, padded_indices)
    dist.all_gather(all_values, padded_values)
    keep = [slice(0, int(c.item())) for c in counts]
    return (
        torch.cat([i[k] for i, k in zip(all_indices, keep)]).cpu(),
        torch.cat([v[k] for v, k in zip(all_values, keep)]).cpu().half(),
    )
