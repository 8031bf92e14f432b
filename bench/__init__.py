"""Pingan's benchmark suite (``pingan bench``): every benchmark against its physical baseline.

Each benchmark runs interleaved with its baseline for several rounds in one process, and reports
the median ratio (pingan ÷ baseline, higher is better unless stated) with its min–max. Results
go to ``var/bench/results.json`` and ``docs/benchmarks.md``. Nothing runs at import time.
"""
