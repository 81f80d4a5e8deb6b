"""FPGA targets on amaranth-boards platforms: synthesis, place-and-route, reports, flashing."""
