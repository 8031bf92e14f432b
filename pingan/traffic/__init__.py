"""Realistic traffic for the prefecture (``pingan simulate`` / ``pingan produce``); see docs/traffic.md.

- ``world``: counties, townships, villages, cameras, grids, households, watchlists (from the divisions);
- ``clock``: durations, start times, local hours and the day/night activity curves;
- ``camera``, ``grid``, ``fraud``, ``service``: episode generators per stream; ``episodes`` registers them;
- ``invalid``: broken-message makers; ``ids``: national ID numbers, phones, plates;
- ``simulate``: the deterministic stream (``SimulationConfig``, ``Simulator``);
- ``message``: ``Message`` and the JSONL replay format; ``sender``: batched sending to Kafka.
"""
