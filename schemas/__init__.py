"""Typed boundaries: input events, alerts, dead letters, rule files and the division list.

One definition of each schema lives here; JSON Schema files exported from them sit in json/.
"""
