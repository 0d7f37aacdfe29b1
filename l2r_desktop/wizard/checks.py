"""The wizard's background checks as plain functions (no Qt): load the model and predict one image,
and scan an image folder. ``WizardViewModel`` hands them to a ``workers.JobRunner``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l2r_core.progress import Progress

THUMBNAILS = 6


@dataclass
class ModelCheck:
    key: tuple[str, ...]  # WizardOptions.model_key() it was made for
    name: str
    kind: str
    num_classes: int
    input_size: tuple[int, int]
    supports_grad: bool
    supports_features: bool
    image: str = ""  # the image of the test prediction
    prediction: str = ""  # "class (probability)"

    def trainable_reason(self, has_backbone: bool) -> str:
        """Why training cannot use this model ("" when it can)."""
        if not self.supports_grad:
            return (f"{self.name} ({self.kind}) gives no gradients, which training needs. Use the timm "
                    f"weights or a TorchScript export of the model instead.")
        if not self.supports_features and not has_backbone:
            return (f"{self.name} ({self.kind}) gives no intermediate features for the explainer: give a "
                    f"separate timm backbone below (architecture and weights).")
        return ""

    def summary(self) -> str:
        h, w = self.input_size
        text = f"{self.name} ({self.kind}): {self.num_classes} classes, input {w}x{h}."
        if self.prediction:
            text += f" Test prediction on {Path(self.image).name}: {self.prediction}."
        return text


def check_model(key: tuple[str, ...], image: str | None, progress: Progress,
                options: dict[str, Any] | None = None) -> ModelCheck:
    """Load the model on the CPU (nothing is downloaded) and predict ``image``. ``options``:
    ``load_model``'s model-card keywords (the wizard's card file and preprocessing fields)."""
    from l2r_core.models.loading import load_model

    spec, weights, class_names = key[:3]
    progress.step(0, 2, f"loading {spec}")
    model = load_model(spec, weights or None, class_names=class_names or None, device="cpu", **(options or {}))
    check = ModelCheck(key, model.name, model.kind, model.num_classes, tuple(model.preprocessing.input_size),
                       bool(model.supports_grad), bool(model.supports_features))
    progress.step(1, 2, "test prediction")
    if image:
        from l2r_core.images import load_image
        from l2r_core.pipeline import prepare, top_predictions

        best = top_predictions(model, prepare(model, load_image(image)).x, k=1)[0]
        check.image, check.prediction = str(image), f"{best.name} ({best.probability:.2f})"
    progress.step(2, 2, "model checked")
    return check


@dataclass
class DataScan:
    folder: str
    paths: list[Path]
    class_folders: list[str]  # first-level subfolders holding images (ImageFolder layout)
    samples: list[Path] = field(default_factory=list)  # a few, spread over the folder
    _split: dict[float, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.paths)

    def split(self, val_percent: float) -> tuple[int, int]:
        """(training, validation) image counts, exactly as the trainer splits them."""
        if val_percent not in self._split:
            from l2r_training.data import ImageSet, split_indices

            images = ImageSet(Path(self.folder), self.paths, [-1] * len(self.paths), {}, [])
            train, val = split_indices(images, val_percent / 100.0)
            self._split[val_percent] = (len(train), len(val))
        return self._split[val_percent]


def scan_data(folder: str, progress: Progress) -> DataScan:
    """All images under ``folder`` (recursive, as the trainer reads them)."""
    import l2r_training.data  # noqa: F401 - imported here, not in the GUI thread by DataScan.split

    from l2r_core.images import list_images

    progress.step(0, 1, f"scanning {folder}")
    root = Path(folder)
    paths = list_images(root, recursive=True)
    classes = sorted({p.relative_to(root).parts[0] for p in paths if len(p.relative_to(root).parts) > 1})
    stride = max(1, len(paths) // THUMBNAILS)
    progress.step(1, 1, f"{len(paths)} images")
    return DataScan(str(root), paths, classes, paths[::stride][:THUMBNAILS])


def data_reason(scan: DataScan | None, folder: str, val_percent: float, scanning: bool) -> str:
    """Why the data page is not complete ("" when it is)."""
    if not folder.strip():
        return "Choose a folder of training images."
    if not Path(folder.strip()).is_dir():
        return f"{folder.strip()} is not a folder."
    if scanning or scan is None or Path(scan.folder) != Path(folder.strip()):
        return "Looking for images..."
    if scan.count == 0:
        return f"No images in {folder.strip()} or its subfolders (.jpg, .png, ...)."
    n_train, n_val = scan.split(val_percent)
    if n_train < 1:
        return "The validation split leaves no training images: lower the percentage."
    if val_percent > 0 and n_val < 1:
        return "Too few images for a validation split: add images or set the split to 0%."
    return ""


def describe(scan: Any, val_percent: float) -> str:
    n_train, n_val = scan.split(val_percent)
    text = f"{scan.count} images: {n_train} for training, {n_val} for validation."
    if scan.class_folders:
        shown = ", ".join(scan.class_folders[:8]) + (", ..." if len(scan.class_folders) > 8 else "")
        text += f" {len(scan.class_folders)} class folders ({shown})."
    return text
