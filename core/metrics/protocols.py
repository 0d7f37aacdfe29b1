"""Named deletion/insertion protocols. A score without its protocol is meaningless.

Each preset pins every choice that changes the number: how many points, what replaces removed
pixels, what insertion starts from, which output is scored, and how the area is taken.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    n_points: int | None = 21  # points on the curve, 0% and 100% included
    pixels_per_step: int | None = None  # alternative: fixed pixel count per step (RISE)
    deletion_reference: str = "mean"  # mean (zeros after normalisation) | black | blur | zero
    insertion_start: str = "mean"  # what insertion starts from
    blur_size: int = 11
    blur_sigma: float = 5.0
    score: str = "softmax"  # softmax probability | logit
    auc: str = "trapezoid"  # trapezoid over fraction in [0,1] | sum (unnormalised)

    def fractions_count(self, n_pixels: int) -> list[int]:
        """Number of pixels removed (deletion) / revealed (insertion) at each curve point."""
        if self.pixels_per_step:
            steps = -(-n_pixels // self.pixels_per_step)
            return [min(i * self.pixels_per_step, n_pixels) for i in range(steps + 1)]
        n = int(self.n_points or 2)
        return [round(i * n_pixels / (n - 1)) for i in range(n)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_options(self, **changes: Any) -> "Protocol":
        return replace(self, **changes)


PROTOCOLS: dict[str, Protocol] = {
    "aha": Protocol(
        "aha",
        "Learn-to-rank paper (arXiv 2604.05819) evaluation: hard argsort of all pixels, 21 points at "
        "5% steps, removed pixels set to the constant dataset-mean colour (zero after normalisation), "
        "insertion starts from that constant image, softmax probability of the predicted class, "
        "no mask smoothing, trapezoid AUC over [0,1].",
        n_points=21, deletion_reference="mean", insertion_start="mean", score="softmax"),
    "rise": Protocol(
        "rise",
        "RISE reference code (Petsiuk et al. 2018): 224 pixels per step (225 points at 224x224), "
        "deletion replaces pixels with zeros in normalised space, insertion starts from a Gaussian blur "
        "of the image (kernel 11, sigma 5), softmax probability, trapezoid AUC over [0,1].",
        n_points=None, pixels_per_step=224, deletion_reference="zero", insertion_start="blur",
        blur_size=11, blur_sigma=5.0, score="softmax"),
    "xplique": Protocol(
        "xplique",
        "Xplique defaults: 10 steps (11 points), baseline value 0 in the model's input space for both "
        "deletion and insertion, raw model output (logit) of the target class, trapezoid AUC over [0,1].",
        n_points=11, deletion_reference="zero", insertion_start="zero", score="logit"),
    "openvino": Protocol(
        "openvino",
        "OpenVINO-XAI: 30 steps (31 points), raw zeros (black pixels before normalisation) for both "
        "deletion and insertion, softmax probability, trapezoid AUC over [0,1].",
        n_points=31, deletion_reference="black", insertion_start="black", score="softmax"),
}
DEFAULT_PROTOCOL = "aha"


def get_protocol(protocol: str | Protocol) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{protocol}'. Choose one of: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]
