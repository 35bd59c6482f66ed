"""The built-in fault kinds, one module each; each exports its kind as ``KIND``.

``harness.scenario.faults.BUILTIN_FAULT_KINDS`` lists these modules by name; a new kind is a
new module here and one line there (see ``harness.faults.kind`` for the interface).
"""
