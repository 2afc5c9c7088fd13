"""A fake image-generation provider speaking apimodels.app, API Mall and APIMart.

genhook can be developed, tested, demoed and benchmarked against it with no API key
and no internet: ``genhook simulate`` serves it, ``create_simulator_app(config)`` builds
it for tests. Tasks move pending → processing → completed / failed over a configurable
(and scalable) time, results are real PNGs served by the simulator itself, apimodels
callbacks are delivered with the documented retry schedule, and faults — dropped,
duplicated, delayed and reordered callbacks, failed generations, 429s, 5xx, slow
answers — can be switched on by config, CLI flag or at runtime under ``/_sim/``.

Module map: ``config`` (settings), ``state`` (tasks and their planned futures),
``directives`` (``[sim:...]`` prompt hooks), ``images`` (PNG writer), ``faults`` (HTTP
fault dice), ``callbacks`` (callback sender), ``billing`` (API Mall credits and
idempotency), ``stats`` (request counters), ``guard`` (auth/fault/count wrapper),
``wire`` (shared HTTP helpers), ``apimodels`` / ``apimall`` / ``apimart`` (the three
contracts), ``files`` (result images), ``control`` (``/_sim/``), ``runtime``
(the ``Simulator`` object), ``app`` (the factory), ``cli`` (``genhook simulate``).
"""

from receiver.simulator.app import create_simulator_app
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.errors import ApiError, SimulatorError
from receiver.simulator.runtime import Simulator

__all__ = ["ApiError", "Simulator", "SimulatorConfig", "SimulatorError", "create_simulator_app"]
