"""Simulation: cocotb testbenches and runners that prove generated HDL against the golden model."""
