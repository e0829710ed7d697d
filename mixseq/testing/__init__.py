"""Conformance suites that every component's tests subclass.

Subclass a suite in a ``Test*`` class and implement its ``make_*`` method; pytest then runs
the shared checks (shapes at batch 1 and 3, batched equals stacked, finite gradients,
float64, moving between devices). Example::

    class TestMyDynamics(DynamicsModelConformance):
        state_dim = 4

        def make_model(self):
            return MyDynamicsModel(state_dim=4)
"""

from mixseq.testing.suites import (
    AssignmentPriorConformance,
    DynamicsModelConformance,
    ObservationModelConformance,
)

__all__ = ["AssignmentPriorConformance", "DynamicsModelConformance", "ObservationModelConformance"]
