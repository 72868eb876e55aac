"""Surface materials of the simulated world: what a LiDAR, a radar and a camera see.

Every triangle of the world and of every object carries a material code (uint8, index into
MATERIALS). A material gives the per-point truth class (`avlabel.io.logstore.SEMANTIC_CLASSES`),
the LiDAR reflectivity (0..1, Lambertian albedo at 905 nm), the radar cross-section density
and the camera colour (RGB 0..255). Object materials are tinted by the instance colour in
the camera (`tint` multiplies it) and their reflectivity is scaled per instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.io.logstore import SEMANTIC_CODE


@dataclass(frozen=True, slots=True)
class Material:
    """One surface kind. `object_part` materials take the instance colour times `tint`."""

    name: str
    semantic: str  # one of SEMANTIC_CLASSES
    reflectivity: float  # LiDAR albedo in [0, 1]
    color: tuple[int, int, int]  # camera RGB
    radar_rcs_dbsm: float  # RCS of one radar scatterer on this surface
    object_part: bool = False
    tint: float = 1.0
    # Fraction of LiDAR returns lost on this surface regardless of range (glass, dark paint).
    dropout: float = 0.0
    # Mean depth (m) a LiDAR return penetrates (foliage), 0 for solid surfaces.
    penetration_m: float = 0.0


MATERIALS: tuple[Material, ...] = (
    Material("asphalt", "road", 0.09, (68, 68, 72), -5.0),
    Material("marking_white", "road", 0.55, (225, 225, 218), -5.0),
    Material("marking_yellow", "road", 0.45, (222, 186, 62), -5.0),
    Material("parking_pavement", "road", 0.12, (96, 95, 96), -5.0),
    Material("sidewalk", "sidewalk", 0.24, (168, 163, 154), -5.0),
    Material("curb", "sidewalk", 0.30, (186, 182, 174), 0.0),
    Material("grass", "terrain", 0.38, (92, 124, 58), -10.0, penetration_m=0.03),
    Material("soil", "terrain", 0.22, (118, 100, 78), -10.0),
    Material("facade_brick", "building", 0.28, (156, 86, 64), 10.0),
    Material("facade_beige", "building", 0.45, (204, 188, 158), 10.0),
    Material("facade_grey", "building", 0.32, (138, 138, 144), 10.0),
    Material("facade_white", "building", 0.55, (214, 212, 204), 10.0),
    Material("facade_dark", "building", 0.18, (92, 84, 80), 10.0),
    Material("roof", "building", 0.20, (104, 96, 92), 5.0),
    Material("window", "building", 0.07, (66, 82, 100), 5.0, dropout=0.5),
    Material("concrete_wall", "building", 0.35, (150, 150, 144), 10.0),
    Material("pole_metal", "pole", 0.42, (112, 112, 118), 12.0),
    Material("sign_plate", "pole", 0.92, (196, 34, 34), 15.0),
    Material("signal_housing", "pole", 0.20, (40, 42, 40), 8.0),
    Material("tree_trunk", "vegetation", 0.30, (92, 72, 52), 0.0),
    Material("leaves", "vegetation", 0.42, (58, 100, 44), -5.0, dropout=0.15, penetration_m=0.35),
    Material("leaves_light", "vegetation", 0.46, (96, 128, 56), -5.0, dropout=0.15, penetration_m=0.30),
    Material("hedge", "vegetation", 0.40, (48, 88, 40), -5.0, dropout=0.05, penetration_m=0.12),
    Material("skyline", "building", 0.30, (150, 160, 176), 10.0),
    # Object parts: camera colour = instance colour * tint.
    Material("paint", "object", 0.35, (255, 255, 255), 10.0, object_part=True),
    Material("glass", "object", 0.10, (255, 255, 255), 5.0, object_part=True, tint=0.42, dropout=0.35),
    Material("tyre", "object", 0.06, (255, 255, 255), 5.0, object_part=True, tint=0.22),
    Material("reflector", "object", 0.95, (255, 255, 255), 10.0, object_part=True, tint=1.25),
    Material("cloth", "object", 0.30, (255, 255, 255), -8.0, object_part=True),
    Material("skin", "object", 0.40, (255, 255, 255), -10.0, object_part=True, tint=0.8),
    Material("frame_metal", "object", 0.45, (255, 255, 255), 0.0, object_part=True, tint=0.6),
)

MATERIAL_CODE = {material.name: code for code, material in enumerate(MATERIALS)}
FACADES = ("facade_brick", "facade_beige", "facade_grey", "facade_white", "facade_dark")

# Lookup tables by material code, for vectorised shading.
SEMANTIC_OF_MATERIAL = np.array([SEMANTIC_CODE[material.semantic] for material in MATERIALS], dtype=np.uint8)
REFLECTIVITY_OF_MATERIAL = np.array([material.reflectivity for material in MATERIALS], dtype=np.float64)
COLOR_OF_MATERIAL = np.array([material.color for material in MATERIALS], dtype=np.float64) / 255.0
RCS_OF_MATERIAL = np.array([material.radar_rcs_dbsm for material in MATERIALS], dtype=np.float64)
IS_OBJECT_PART = np.array([material.object_part for material in MATERIALS], dtype=bool)
TINT_OF_MATERIAL = np.array([material.tint for material in MATERIALS], dtype=np.float64)
DROPOUT_OF_MATERIAL = np.array([material.dropout for material in MATERIALS], dtype=np.float64)
PENETRATION_OF_MATERIAL = np.array([material.penetration_m for material in MATERIALS], dtype=np.float64)
IS_FACADE = np.isin(np.arange(len(MATERIALS)), [MATERIAL_CODE[name] for name in FACADES])


def code(name: str) -> int:
    """Material code of `name`; ValueError lists the known names."""
    try:
        return MATERIAL_CODE[name]
    except KeyError:
        raise ValueError(f"unknown material {name!r}; known: {', '.join(MATERIAL_CODE)}") from None
