"""The flow runner: language runtimes joined to the runner by named pipes.

Two processes share this package. The runner (Trio) uses :mod:`.fifos` and
:mod:`.runtime_process`; the shipped Python runtime (``python -m
trio_launcher.flows.runtime_py``) uses only :mod:`.wire` and itself, and
loads neither Trio nor attrs. Both speak the runtime pipe protocol, whose
frames :mod:`.wire` encodes and decodes.

This module imports nothing, so that the runtime pays only for what it uses.
"""
