"""Loads a mesh file with trimesh (an importer independent of atelier-mesh) and
prints what it found as JSON: faces, vertices, whether the surface is watertight
and consistently wound, and whether a texture came with it.

Usage: mesh_check.py FILE (.glb, .stl, or .zip holding model.obj, model.mtl and
its texture). Run by `atelier_mesh::testing::trimesh_report`, with the tests'
venv (scripts/python-venv).
"""

import json
import os
import sys
import tempfile
import zipfile

import trimesh


def load(path):
    if path.endswith(".zip"):
        folder = tempfile.mkdtemp()
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)
        return trimesh.load(os.path.join(folder, "model.obj"), force="mesh", process=True)
    return trimesh.load(path, force="mesh", process=True)


def main():
    mesh = load(sys.argv[1])
    # trimesh merges vertices that share a position only when their normals and
    # texture coordinates agree; the topology checks want positions merged.
    solid = mesh.copy()
    solid.merge_vertices(merge_tex=True, merge_norm=True)
    visual = getattr(mesh, "visual", None)
    material = getattr(visual, "material", None)
    # OBJ materials carry `image`; glTF's PBR materials `baseColorTexture`.
    textured = any(getattr(material, name, None) is not None for name in ("image", "baseColorTexture"))
    print(json.dumps({
        "faces": int(len(mesh.faces)),
        "vertices": int(len(mesh.vertices)),
        "watertight": bool(solid.is_watertight),
        "winding_consistent": bool(solid.is_winding_consistent),
        "textured": bool(textured),
    }))


if __name__ == "__main__":
    main()
