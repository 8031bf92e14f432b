"""The live pipeline: the Faust app, its batch ingest, and the processor behind it.

- app.py: the Faust app (input topics, state table, timers, web pages), built by create_app()
- ingest.py: Faust's consumer hands each fetch's input batches to the runtime (no per-message plumbing)
- runtime.py: publish alerts and dead letters, write state, flush the sink, acknowledge, hot reload
- processor.py: one batch of raw messages -> rows, dead letters, alerts (no Faust, testable alone)
- fastdecode.py: the decode fast path (fastdecode_struct.py: msgspec structs derived from the
  pydantic models; fastdecode_gen.py: the generated checks), pydantic for the rest and the error
- batchsend.py: many records to one topic in aiokafka record batches (the changelog)
- statelog.py: engine state records on the changelog of the Faust table
- deadletter.py: dead-letter records with their origin
- metrics.py, health.py: /metrics and /health
- worker.py: start the worker with one-line errors; backtest.py: the same engine over files
- engine/: the pure rule engine (language, compiler, state machines, event-time timeline)
"""
