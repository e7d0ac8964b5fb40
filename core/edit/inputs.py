"""An edit's photo and mask, read and checked against a reproduction's hashes.

Apart from the run (torch, diffusers) so that the CLI refuses a wrong photo or mask in a fraction of
a second, before the models load.
"""

from __future__ import annotations

from ..errors import UserError
from ..images import Mask, Photo, load_mask, load_photo
from .params import EditParams


class EditError(UserError, ValueError):
    """The photo or mask given is not the one the edit being reproduced was made from."""


def load_inputs(params: EditParams) -> tuple[Photo, Mask | None]:
    """The photo and mask, checked against the hashes a reproduction carries."""
    e = params.edit
    photo = load_photo(e.image_path, e.max_side)
    if e.image_sha256 and e.image_sha256 != photo.sha256:
        raise EditError(
            f"{photo.name} is not the photo this image was edited from (its content differs): reproduce with "
            "the original photo, or leave out --from to make a new edit"
        )
    mask = load_mask(e.mask_path, photo.size, shape=photo.shape) if e.mask_path else None
    if e.mask_sha256 and (mask is None or e.mask_sha256 != mask.sha256):
        what = "no mask was given" if mask is None else f"{mask.name} is not the mask it was made with"
        raise EditError(f"this image was edited inside a mask, and {what}: give the original mask with --mask")
    return photo, mask
