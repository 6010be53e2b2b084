"""loci: interactive 4D world models grounded in geometry.

Layers (arrows go down): geometry → control → engines → data → memory → models → training → world
→ eval / serve → cli. See DESIGN.md in the shared notes and README.md.
"""

__version__ = "0.1.0"
