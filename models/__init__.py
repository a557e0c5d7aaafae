"""The model zoo (installed as ``wse_sim.models``)."""
