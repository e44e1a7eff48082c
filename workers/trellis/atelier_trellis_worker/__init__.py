"""Atelier's reference worker for Microsoft TRELLIS (image to 3D, text to 3D).

It claims `trellis/*` tasks from an Atelier server over the pull protocol, runs them
on this machine's GPU with TRELLIS, and sends back a GLB and a zipped OBJ. Run it
as `python -m atelier_trellis_worker` (see the README beside this package).
"""

__version__ = "0.1.0"
