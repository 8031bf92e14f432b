"""The live pipeline: the Faust app, its agents, and the batch processor they share.

- processor.py: one batch of raw messages -> rows, dead letters, alerts (no Faust, testable alone)
- deadletter.py: dead-letter records with their origin
- app.py: the Faust app (topics, agents, state table, timers, web pages), built by create_app()
- reload.py: hot reload of the rule set
- engine/: the pure rule engine (language, compiler, state machines, event-time timeline)
"""
