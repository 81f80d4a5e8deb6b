"""Amaranth components that lwc instantiates. Imports only Amaranth, never the compiler or torch."""
