"""Pingan (平安): streaming data fusion and alerting for Chuxiong's command centres.

The top-level folders of the repository (schemas/, streams/, sinks/, dashboards/) are mapped
under this namespace: ``pingan.schemas``, ``pingan.streams``, ``pingan.sinks``,
``pingan.dashboards``. Nothing happens at import time.
"""

__version__ = "0.1.0"
