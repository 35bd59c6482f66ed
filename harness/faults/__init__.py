"""Faults: network toxics through Toxiproxy, process faults through node handles, and the
timeline that applies and always heals them."""
