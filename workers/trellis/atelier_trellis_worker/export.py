"""The result files: a textured mesh (what TRELLIS's `to_glb` returns) as a GLB and as a zipped OBJ.

- `glb`: binary glTF, the texture embedded (`model.glb`, `model/gltf-binary`).
- `obj`: a zip (`model.zip`, `application/zip`) of `model.obj`, `model.mtl` and
  `texture.png`, the material's `map_Kd` pointing at the texture.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any, Dict, List, Sequence

from .client import Part

GLB_MIME = "model/gltf-binary"
ZIP_MIME = "application/zip"
PNG_MIME = "image/png"

OBJ_NAME = "model.obj"
MTL_NAME = "model.mtl"
TEXTURE_NAME = "texture.png"

#: The formats this worker writes, as tasks name them.
FORMATS = ("glb", "obj")

#: The header comment written into the OBJ and MTL files.
HEADER = "Atelier TRELLIS worker"


def glb_bytes(mesh: Any) -> bytes:
    """`mesh` as binary glTF, its texture embedded."""
    data = mesh.export(file_type="glb")
    if not data:
        raise ValueError("the GLB export wrote nothing")
    return bytes(data)


def obj_zip_bytes(mesh: Any) -> bytes:
    """`mesh` as a zip of `model.obj`, `model.mtl` and its texture(s): `texture.png`
    (and `texture_1.png`, ... should a mesh carry more than one)."""
    from trimesh.exchange.obj import export_obj  # noqa: PLC0415 - trimesh is slow to import

    text, files = export_obj(mesh, include_texture=True, return_texture=True, mtl_name=MTL_NAME, header=HEADER)
    mtl = files.pop(MTL_NAME, b"")
    renames = _texture_names(files)
    if mtl:
        mtl = _rename_maps(mtl.decode("utf-8"), renames).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(OBJ_NAME, text)
        if mtl:
            archive.writestr(MTL_NAME, mtl)
        for old, new in renames.items():
            archive.writestr(new, files[old])
    return buffer.getvalue()


def _texture_names(files: Dict[str, bytes]) -> Dict[str, str]:
    """The new name of each texture file `export_obj` wrote: `texture.png`, `texture_1.png`, ..."""
    renames: Dict[str, str] = {}
    for index, old in enumerate(sorted(files)):
        stem, dot, extension = TEXTURE_NAME.rpartition(".")
        suffix = old.rpartition(".")[2].lower() if "." in old else extension
        renames[old] = f"{stem}{'' if index == 0 else f'_{index}'}{dot}{suffix}"
    return renames


def _rename_maps(mtl: str, renames: Dict[str, str]) -> str:
    """The MTL with its texture maps (`map_Kd`, ...) pointing at the renamed files."""
    lines = []
    for line in mtl.splitlines():
        words = line.split()
        if words and words[0].lower().startswith("map_") and words[-1] in renames:
            line = " ".join(words[:-1] + [renames[words[-1]]])
        lines.append(line)
    return "\n".join(lines) + "\n"


def result_parts(mesh: Any, formats: Sequence[str]) -> List[Part]:
    """The `file` parts of a completion, one per format in the order asked."""
    parts: List[Part] = []
    for name in formats:
        if name == "glb":
            parts.append(Part("file", "model.glb", GLB_MIME, glb_bytes(mesh)))
        elif name == "obj":
            parts.append(Part("file", "model.zip", ZIP_MIME, obj_zip_bytes(mesh)))
        else:
            raise ValueError(f"unknown output format {name!r} (known: {', '.join(FORMATS)})")
    return parts


def preview_part(png: bytes) -> Part:
    """The `preview` part of a completion: a rendered still."""
    return Part("preview", "preview.png", PNG_MIME, png)
