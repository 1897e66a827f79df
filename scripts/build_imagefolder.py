"""Build a small real-image ImageFolder from the icon themes Debian ships: five classes of icon
(what the icon is for), drawn by people for two unrelated themes, so a third real set of another
domain than digits and Fashion-MNIST, without any download from a hub.

Sources (Debian packages; install them first):

    apt-get install papirus-icon-theme oxygen-icon-theme librsvg2-bin

| class     | Papirus (SVG, rendered by rsvg-convert)              | Oxygen (PNG)             |
|-----------|------------------------------------------------------|--------------------------|
| apps      | Papirus/48x48/apps                                   | oxygen/base/48x48/apps   |
| actions   | Papirus/22x22/actions                                | oxygen/base/48x48/actions|
| mimetypes | Papirus/48x48/mimetypes                              | oxygen/base/48x48/mimetypes |
| places    | Papirus/48x48/places                                 | oxygen/base/48x48/places |
| status    | Papirus/22x22/panel, Papirus/48x48/status            | oxygen/base/48x48/status |

Only regular files count (the themes alias many names by symlink), byte-identical files are
kept once, and so is a name one theme draws twice in one class. The split is by icon *name*
(file name without extension): sha256 of the name decides train / val / test (70 / 15 / 15 %),
so one icon drawn by both themes, or a name
aliased to a copy, never sits on both sides of a split. Then at most `--per-class` icons per
class are drawn (seeded, `--seed`), each split keeping its share. Every image is composited on
mid grey (128: light panel glyphs and dark ones both stay visible) and written as an RGB PNG of
`--size` px:

    python scripts/build_imagefolder.py /data/icons5 --per-class 600 --size 32

writes `/data/icons5/{train,val,test}/<class>/<theme>-<name>.png` and `/data/icons5/build.json`
(sources, package versions, counts per split and class), for `--data imagefolder:/data/icons5`.
The same packages, arguments and seed give the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image

ICONS = Path("/usr/share/icons")
PAPIRUS = ICONS / "Papirus"
OXYGEN = ICONS / "oxygen" / "base"
PACKAGES = ("papirus-icon-theme", "oxygen-icon-theme", "librsvg2-bin")
CLASSES: dict[str, tuple[Path, ...]] = {
    "apps": (PAPIRUS / "48x48/apps", OXYGEN / "48x48/apps"),
    "actions": (PAPIRUS / "22x22/actions", OXYGEN / "48x48/actions"),
    "mimetypes": (PAPIRUS / "48x48/mimetypes", OXYGEN / "48x48/mimetypes"),
    "places": (PAPIRUS / "48x48/places", OXYGEN / "48x48/places"),
    "status": (PAPIRUS / "22x22/panel", PAPIRUS / "48x48/status", OXYGEN / "48x48/status"),
}
SPLITS = (("train", 0.70), ("val", 0.15), ("test", 0.15))
BACKGROUND = (128, 128, 128)


def split_of(name: str) -> str:
    """The split an icon name belongs to: a pure function of the name (sha256), not of the run."""
    position = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for split, share in SPLITS:
        edge += share
        if position < edge:
            return split
    return SPLITS[-1][0]


def theme_of(path: Path) -> str:
    return "papirus" if PAPIRUS in path.parents else "oxygen"


def collect(folders: tuple[Path, ...], seen: set[str]) -> list[Path]:
    """Regular image files of the folders, sorted, each content (sha256) once across classes."""
    files = []
    for folder in folders:
        if not folder.is_dir():
            raise SystemExit(f"error: {folder} is missing: apt-get install {' '.join(PACKAGES)}")
        for path in sorted(folder.iterdir()):
            if path.is_symlink() or not path.is_file() or path.suffix not in (".svg", ".png"):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            files.append(path)
    return files


def render(path: Path, size: int) -> Image.Image:
    """The icon as a size × size RGB image on mid grey."""
    if path.suffix == ".svg":
        png = subprocess.run(
            ["rsvg-convert", "--width", str(size), "--height", str(size), "--keep-aspect-ratio", str(path)],
            check=True,
            capture_output=True,
        ).stdout
        icon = Image.open(io.BytesIO(png)).convert("RGBA")
    else:
        icon = Image.open(path).convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", icon.size, BACKGROUND + (255,))
    canvas.alpha_composite(icon)
    if canvas.size != (size, size):  # a non-square SVG: centre it
        square = Image.new("RGBA", (size, size), BACKGROUND + (255,))
        square.paste(canvas, ((size - canvas.width) // 2, (size - canvas.height) // 2))
        canvas = square
    return canvas.convert("RGB")


def package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        versions[package] = result.stdout.strip() or "not installed"
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to create (must not exist or be empty)")
    parser.add_argument("--per-class", type=int, default=600, help="icons per class at most, all splits together")
    parser.add_argument("--size", type=int, default=32, help="px of each square image")
    parser.add_argument("--seed", type=int, default=0, help="seeds which icons are drawn when a class has more")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty; give a new directory.", file=sys.stderr)
        return 2
    versions = package_versions()
    missing = [p for p, v in versions.items() if v == "not installed"]
    if missing:
        print(f"error: missing Debian packages: apt-get install {' '.join(missing)}", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    seen: set[str] = set()
    counts: dict[str, dict[str, int]] = {split: {} for split, _ in SPLITS}
    for label, folders in CLASSES.items():
        by_split: dict[str, list[Path]] = {split: [] for split, _ in SPLITS}
        for path in collect(folders, seen):
            by_split[split_of(path.stem)].append(path)
        available = sum(len(files) for files in by_split.values())
        keep = min(1.0, args.per_class / available)
        for split, files in by_split.items():
            chosen = rng.sample(files, round(len(files) * keep)) if keep < 1.0 else files
            folder = args.out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            # One theme may draw a name twice in a class (Papirus panel and status): the later
            # folder's drawing (48 px status) is the one kept.
            named = {f"{theme_of(path)}-{path.stem}.png": path for path in sorted(chosen)}
            for filename, path in named.items():
                render(path, args.size).save(folder / filename)
            counts[split][label] = len(named)
        print(f"{label}: {available} distinct icons, kept {sum(counts[s][label] for s in counts)}", flush=True)
    record = {
        "packages": versions,
        "classes": {label: [str(f) for f in folders] for label, folders in CLASSES.items()},
        "splits": dict(SPLITS),
        "per_class": args.per_class,
        "size": args.size,
        "seed": args.seed,
        "background": BACKGROUND,
        "counts": counts,
    }
    (args.out / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
