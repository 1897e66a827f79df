"""Teacher training speed: a plain PyTorch loop vs edgekd's engine, side by side in one run.

Both train timm resnet18 on Fashion-MNIST at 32 px with the FMNIST-32 recipe (SGD 0.1 Nesterov,
momentum 0.9, wd 5e-4, cosine, batch 128, random crop with 4 px padding + flip) for the same
number of samples, data included. The plain loop is what a user writes by hand: torchvision
transforms per sample in a DataLoader (run as written, and again with channels_last). Prints img/s
for each and their ratio.

    python benchmarks/teacher_speed.py                 # 2 × 100 steps, about 1 minute
    python benchmarks/teacher_speed.py --steps 30      # smoke check
    python benchmarks/teacher_speed.py --plain-epochs 4 --seed 0   # the plain loop's test top-1
                                                                   # after whole epochs (~7 min)

Compare the last one with `edgekd teacher train resnet18 --data fashion-mnist --val-size 0
--epochs 4 --img-size 32 --seed 0`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import timm
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from edgekd.data import DataConfig, InputSpec, ModelInput, fit_channels
from edgekd.engine import ClassificationTask, OptimConfig, TrainConfig, Trainer


class PlainFashionMNIST(torch.utils.data.Dataset):
    """Per-sample torchvision transforms, as in a hand-written training script."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float):
        self.images, self.labels = images, labels
        self.transform = v2.Compose(
            [
                v2.Resize(32, antialias=True),
                v2.RandomCrop(32, padding=4),
                v2.RandomHorizontalFlip(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize([mean] * 3, [std] * 3),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index].expand(3, -1, -1)), self.labels[index]


def plain_loop(dataset, steps: int, batch_size: int, channels_last: bool) -> float:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=10)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    data = PlainFashionMNIST(dataset.train.images, dataset.train.labels, dataset.mean[0], dataset.std[0])
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=0)
    started = time.perf_counter()
    seen = train_steps(model, loader, optimizer, scheduler, max_steps=steps)
    return seen / (time.perf_counter() - started)


def train_steps(model, loader, optimizer, scheduler, max_steps: int | None = None) -> int:
    """One pass of the plain loop over `loader` (at most `max_steps` steps); returns images seen."""
    model.train()
    seen = 0
    for step, (images, labels) in enumerate(loader):
        if step == max_steps:
            break
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        seen += len(labels)
    return seen


@torch.no_grad()
def test_top1(model, dataset) -> float:
    """Test top-1 (%) of the plain loop's model, with its own test transform (resize + normalise)."""
    model.eval()
    normalize = v2.Normalize([dataset.mean[0]] * 3, [dataset.std[0]] * 3)
    correct = 0
    for start in range(0, len(dataset.test), 500):
        images = dataset.test.images[start : start + 500].expand(-1, 3, -1, -1)
        pixels = normalize(v2.functional.resize(images, [32, 32], antialias=True).float() / 255)
        correct += model(pixels).argmax(1).eq(dataset.test.labels[start : start + 500]).sum().item()
    return 100.0 * correct / len(dataset.test)


def plain_loop_epochs(dataset, epochs: int, batch_size: int, seed: int) -> tuple[float, float]:
    """The plain loop for whole epochs (per-step cosine): (test top-1 %, img/s data included)."""
    torch.manual_seed(seed)
    model = timm.create_model("resnet18", num_classes=10).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    data = PlainFashionMNIST(dataset.train.images, dataset.train.labels, dataset.mean[0], dataset.std[0])
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(loader))
    started = time.perf_counter()
    seen = sum(train_steps(model, loader, optimizer, scheduler) for _ in range(epochs))
    rate = seen / (time.perf_counter() - started)
    return test_top1(model, dataset), rate


def edgekd_engine(dataset, steps: int, batch_size: int) -> float:
    torch.manual_seed(0)
    spec = InputSpec(32, 3, fit_channels(dataset.mean, 3), fit_channels(dataset.std, 3))
    task = ClassificationTask(timm.create_model("resnet18", num_classes=10), ModelInput(spec))
    config = TrainConfig(epochs=1, batch_size=batch_size, optim=OptimConfig(lr=0.1))
    result = Trainer(config, torch.device("cpu")).fit(task, dataset)
    return result.train_img_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="training steps per contender")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--plain-epochs",
        type=int,
        default=0,
        help="instead: train the plain loop for whole epochs and print its test top-1",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.plain_epochs:
        top1, rate = plain_loop_epochs(
            DataConfig("fashion-mnist", val_size=0).load(), args.plain_epochs, args.batch_size, args.seed
        )
        print(
            json.dumps(
                {
                    "plain_loop_epochs": args.plain_epochs,
                    "seed": args.seed,
                    "test_top1": round(top1, 2),
                    "img_s": round(rate, 1),
                }
            )
        )
        return
    samples = args.steps * args.batch_size
    # One epoch of exactly `steps` batches for the engine; the plain loop stops after `steps`.
    dataset = DataConfig("fashion-mnist", val_size=0, limit_train=samples).load()
    dataset.test = dataset.val  # the engine's end-of-run test pass is not part of this benchmark
    full = DataConfig("fashion-mnist", val_size=0).load()
    plain = plain_loop(full, args.steps, args.batch_size, channels_last=False)
    plain_cl = plain_loop(full, args.steps, args.batch_size, channels_last=True)
    engine = edgekd_engine(dataset, args.steps, args.batch_size)
    figures = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "steps": args.steps,
        "batch_size": args.batch_size,
        "plain_loop_img_s": round(plain, 1),
        "plain_loop_channels_last_img_s": round(plain_cl, 1),
        "edgekd_engine_img_s": round(engine, 1),
        "ratio_engine_over_plain": round(engine / plain, 3),
    }
    print(f"{'contender':<28}{'img/s (data included)':>24}")
    print(f"{'plain PyTorch loop':<28}{plain:>24.1f}")
    print(f"{'plain loop, channels_last':<28}{plain_cl:>24.1f}")
    print(f"{'edgekd engine':<28}{engine:>24.1f}")
    print(f"ratio edgekd / plain: {engine / plain:.2f}×")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
