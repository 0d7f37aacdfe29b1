"""Explainer training and the `l2r` command line. Imports l2r_core, never the GUI."""
