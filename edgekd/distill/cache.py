"""The teacher-logit cache: each teacher's logits for every training sample under every
replayable augmentation view, so later student runs read them instead of running the teacher.

A view is a pure function of (seed, epoch, sample index) (`edgekd.data.augment`), so logits are
stored per teacher and per epoch as one (N, num_classes) fp16 table in sample-index order:

    DIR/views-<key digest>/cache.json                  what the views depend on (the cache key)
    DIR/views-<key digest>/<teacher id>/teacher.json   which teacher (path, sha256, arch, input)
    DIR/views-<key digest>/<teacher id>/epoch-0003.safetensors   logits of epoch 3's views
    DIR/views-<key digest>/<teacher id>/val.safetensors          the unaugmented val/test splits

Per teacher (not per ensemble) so that T, α and the ensemble rule may change between runs.
Disk use is bounded by `CacheStorage` (declared once, below): up to 100 classes a table is whole
(2 bytes per logit: rows × classes × 2 bytes per epoch and teacher); above that only each row's
top 32 logits, their class indices and one floor value are kept (rows × (32 × 4 + 2) bytes with
int16 indices, 130 bytes a row instead of 2,000 for 1,000 classes), and reading puts the floor in
every other class. The floor is the log-mean-exp of the dropped logits, so at T = 1 the
teacher's probabilities of the kept classes and the total of the rest are the stored ones.
The key covers the dataset fingerprint, the augmentation recipe and size, the seed, and room
for a transfer set's fingerprint and dropped classes; the teacher id covers the teacher's
weights (sha256) and input. Epochs are coverage, not identity: epoch e's views do not depend
on the run's length, so a longer run reads the epochs present and fills in the rest. Runs with
other views (another seed, say) get their own entry in the same directory. Every table
carries its key, its shape and the sha256 of its values. A damaged table (cut short by a copy
or a crash before its bytes reached the disk, or with values that no longer match their
checksum) is never read: it is deleted and its logits are computed again, and the run's card
lists it. An edited or foreign entry, or a table made for another key, teacher or split size, is
refused with a message naming what to delete.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgekd.artifacts import atomic_path, read_json, remove_stale_temporaries, write_json
from edgekd.errors import ConfigError, DataError

CACHE_SCHEMA = "edgekd.teacher-cache/1"
DENSE = "fp16"


@dataclass(frozen=True)
class CacheStorage:
    """How tables are stored on disk: fp16 logits, whole up to `dense_up_to` classes, else each
    row's `top_k` logits (with their class indices) and one floor value for the other classes.

    Attributes:
        top_k: logits kept per sample for a table of more than `dense_up_to` classes.
        dense_up_to: class counts up to this are stored whole (lossless in fp16).
    """

    top_k: int = 32
    dense_up_to: int = 100

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= self.dense_up_to:
            raise ConfigError(f"cache top_k must be within [1, dense_up_to={self.dense_up_to}], got {self.top_k}.")

    def format(self, num_classes: int) -> str:
        """`fp16` (whole) or `fp16-top32+floor`: how a table of this many classes is stored."""
        return DENSE if num_classes <= self.dense_up_to else f"fp16-top{self.top_k}+floor"

    def table_bytes(self, rows: int, num_classes: int) -> int:
        """Bytes of one table's values on disk (the file adds a header of a few hundred)."""
        if num_classes <= self.dense_up_to:
            return rows * num_classes * 2
        return rows * (self.top_k * (2 + _index_dtype(num_classes).itemsize) + 2)


STORAGE = CacheStorage()


def _index_dtype(num_classes: int) -> torch.dtype:
    return torch.int16 if num_classes <= torch.iinfo(torch.int16).max else torch.int32


def _top_k_encode(table: torch.Tensor, top_k: int) -> dict[str, torch.Tensor]:
    """(rows, C) fp16 logits → values (rows, k) fp16, indices (rows, k), floor (rows, 1) fp16.
    A NaN row (a sample not seen) stays NaN in values and floor."""
    missing = torch.isnan(table).any(dim=1, keepdim=True)
    logits = table.float().masked_fill(missing, 0.0)
    values, indices = logits.topk(top_k, dim=1)
    rest = logits.scatter(1, indices, float("-inf"))
    floor = torch.logsumexp(rest, dim=1, keepdim=True) - math.log(table.shape[1] - top_k)
    nan = float("nan")
    return {
        "values": values.masked_fill(missing, nan).half(),
        "indices": indices.to(_index_dtype(table.shape[1])),
        "floor": floor.masked_fill(missing, nan).half(),
    }


def _top_k_decode(stored: dict[str, torch.Tensor], num_classes: int) -> torch.Tensor:
    """The (rows, num_classes) fp16 table: the kept logits in place, the floor everywhere else."""
    floor = stored["floor"]
    table = floor.expand(floor.shape[0], num_classes).clone()
    return table.scatter_(1, stored["indices"].long(), stored["values"])


@dataclass(frozen=True)
class DiskUse:
    """What a run's cache entry costs on disk.

    Attributes:
        storage: `CacheStorage.format` of the training tables.
        bytes_per_epoch: one epoch's views, all teachers together (bytes).
        bytes_for_run: `bytes_per_epoch` × the run's epochs (bytes; val/test add one table each).
        teachers: number of teachers recorded.
        epochs: the run's epochs.
    """

    storage: str
    bytes_per_epoch: int
    bytes_for_run: int
    teachers: int
    epochs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"teacher cache disk use: {_size(self.bytes_per_epoch)} per epoch ({self.storage} logits, "
            f"{self.teachers} teacher(s)), {_size(self.bytes_for_run)} for {self.epochs} epochs"
        )


def _size(count: int) -> str:
    """Bytes for a person: `25.9 kB`, `1.08 MB`, `3.33 GB`."""
    if count < 1e6:
        return f"{count / 1e3:.1f} kB"
    return f"{count / 1e6:.2f} MB" if count < 1e9 else f"{count / 1e9:.2f} GB"


@dataclass(frozen=True)
class CacheKey:
    """What the training views, and so the teachers' logits, depend on.

    Attributes:
        dataset_fingerprint: `Dataset.fingerprint` (spec, splits, subset, class names).
        augment: `AugmentRecipe.describe()`.
        view_size: px at which views are cut (the student's input size).
        seed: the training seed (it seeds the views).
        transfer_fingerprint: fingerprint of a transfer set the student learns from, if any.
        dropped_classes: classes removed from what the student learns from, if any.
        mix: `MixRecipe.describe()` when the views are mixed (`--mix`), else None (and then
            left out of the key, so unmixed entries keep their digest).
    """

    dataset_fingerprint: str
    augment: dict[str, Any]
    view_size: int
    seed: int
    transfer_fingerprint: str | None = None
    dropped_classes: tuple[str, ...] = field(default_factory=tuple)
    mix: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["dropped_classes"] = list(self.dropped_classes)
        if payload["mix"] is None:
            del payload["mix"]
        return payload

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _values_sha256(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


class TeacherCache:
    """A cache directory; each set of training views (one `CacheKey`) gets its own entry
    `DIR/views-<key digest>/`, so seeds, data subsets or recipes never share logits.

    Args:
        root: the directory (`--teacher-cache`).
        key: the run's key.
        writable: whether this process writes (rank 0 only under DDP).
        storage: how new tables are stored (tables say how they were stored, and are read so).

    Attributes:
        root: this key's entry, `DIR/views-<digest>`.
        existed: whether the entry was there before this run.
    """

    def __init__(self, root: str | Path, key: CacheKey, *, writable: bool = True, storage: CacheStorage = STORAGE):
        self.base = Path(root)
        self.storage = storage
        if self.base.exists() and not self.base.is_dir():
            raise ConfigError(f"--teacher-cache {self.base} is a file, not a directory.")
        self.key = key
        self.writable = writable
        self.root = self.base / f"views-{key.digest()}"
        self.rebuilt: list[str] = []  # damaged tables found (and deleted) by this run, as "teacher/name: why"
        manifest = self.root / "cache.json"
        self.existed = manifest.exists()
        if self.existed:
            self._check_manifest(manifest)
        elif writable:
            write_json(manifest, {"schema": CACHE_SCHEMA, "key": key.to_dict(), "key_digest": key.digest()})

    def disk_use(self, rows: int, num_classes: int, teachers: int, epochs: int) -> DiskUse:
        """Disk a run of `epochs` over `rows` training samples adds for `teachers` teachers."""
        per_epoch = teachers * self.storage.table_bytes(rows, num_classes)
        return DiskUse(self.storage.format(num_classes), per_epoch, per_epoch * epochs, teachers, epochs)

    def other_entries(self) -> list[str]:
        """Names of the entries for other views in the same directory."""
        return sorted(p.name for p in self.base.glob("views-*") if p.is_dir() and p != self.root)

    def _check_manifest(self, manifest: Path) -> None:
        try:
            payload = read_json(manifest)
            stored = payload["key"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise DataError(
                f"teacher cache {self.root} is damaged ({manifest.name} unreadable); "
                "delete that directory to rebuild it."
            ) from exc
        if payload.get("schema") != CACHE_SCHEMA:
            raise DataError(
                f"teacher cache {self.root} has schema {payload.get('schema')!r}, this edgekd writes "
                f"{CACHE_SCHEMA}; delete that directory or use another --teacher-cache."
            )
        differing = [
            f"{name} (cache {stored.get(name)!r}, this run {value!r})"
            for name, value in self.key.to_dict().items()
            if stored.get(name) != value
        ]
        if differing:
            # The entry's name is the key's digest: a differing key means an edited or foreign entry.
            raise DataError(
                f"teacher cache {self.root} was made for other training views than its name says: "
                f"{'; '.join(differing)}. Delete that directory."
            )

    # -- files ---------------------------------------------------------------------------
    def _table_path(self, teacher_id: str, name: str) -> Path:
        return self.root / teacher_id / f"{name}.safetensors"

    def register_teacher(self, teacher_id: str, facts: dict[str, Any]) -> None:
        """Record which teacher a sub-directory belongs to (for people browsing the cache)."""
        path = self.root / teacher_id / "teacher.json"
        if self.writable and not path.exists():
            write_json(path, facts)

    def has(self, teacher_id: str, name: str) -> bool:
        return self._table_path(teacher_id, name).exists()

    def load(self, teacher_id: str, name: str, rows: int, num_classes: int) -> torch.Tensor | None:
        """The (rows, num_classes) fp16 table `name` (`epoch-0003`, `val`, …), or None if absent.

        Rows never computed (samples a run skipped) are NaN. A damaged table counts as absent
        (so the caller computes its logits again): it is deleted and noted in `rebuilt`. One
        made for another key, teacher or split size raises with a message saying what to delete.
        """
        path = self._table_path(teacher_id, name)
        if not path.exists():
            return None
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                stored = {k: handle.get_tensor(k) for k in handle.keys()}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            return self._discard(path, teacher_id, name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        expected = {"key_digest": self.key.digest(), "teacher": teacher_id, "name": name}
        wrong = [k for k, v in expected.items() if meta.get(k) != v]
        if wrong:
            raise DataError(
                f"teacher cache table {path} belongs to another cache ({', '.join(wrong)} differ); delete it."
            )
        if meta.get("storage", DENSE) == DENSE:
            table = stored.get("logits")
            if table is None or tuple(table.shape) != (rows, num_classes) or table.dtype != torch.float16:
                held = "no logits" if table is None else f"{tuple(table.shape)} {table.dtype}"
                raise DataError(
                    f"teacher cache table {path} holds {held}, "
                    f"this run needs ({rows}, {num_classes}) float16; delete it."
                )
            if _values_sha256(table) != meta.get("values_sha256"):
                return self._discard(path, teacher_id, name, "checksum mismatch")
            return table
        parts = [stored.get(k) for k in ("values", "indices", "floor")]
        if any(p is None for p in parts) or meta.get("num_classes") != str(num_classes) or len(parts[0]) != rows:
            raise DataError(
                f"teacher cache table {path} ({meta.get('storage')}) is not ({rows}, {num_classes}) logits; delete it."
            )
        if _values_sha256(*parts) != meta.get("values_sha256"):
            return self._discard(path, teacher_id, name, "checksum mismatch")
        return _top_k_decode(dict(zip(("values", "indices", "floor"), parts)), num_classes)

    def _discard(self, path: Path, teacher_id: str, name: str, why: str) -> None:
        """Forget a damaged table: deleted by the writing process, recomputed by every one."""
        if self.writable:
            path.unlink(missing_ok=True)
        self.rebuilt.append(f"{teacher_id}/{name}: {why}")
        return None

    def save(self, teacher_id: str, name: str, table: torch.Tensor) -> Path:
        """Write a (rows, num_classes) table atomically (fp16, NaN rows for samples not seen),
        as `storage` says for its class count (whole, or top-k + floor)."""
        from safetensors.torch import save_file

        path = self._table_path(teacher_id, name)
        table = table.detach().to("cpu", torch.float16).contiguous()
        storage = self.storage.format(table.shape[1])
        stored = {"logits": table} if storage == DENSE else _top_k_encode(table, self.storage.top_k)
        meta = {
            "key_digest": self.key.digest(),
            "teacher": teacher_id,
            "name": name,
            "values_sha256": _values_sha256(*stored.values()),
        }
        if storage != DENSE:  # dense tables keep the metadata they always had
            meta |= {"storage": storage, "num_classes": str(table.shape[1])}
        path.parent.mkdir(parents=True, exist_ok=True)
        # Runs share a cache without a lock: only temporaries of writers that died go.
        remove_stale_temporaries(path.parent)
        with atomic_path(path) as tmp:
            save_file(stored, str(tmp), metadata=meta)
        return path


def epoch_table(epoch: int) -> str:
    """Table name of an epoch's views."""
    return f"epoch-{epoch:04d}"
