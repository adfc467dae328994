"""Job specs: what a researcher declares, and the canonical plan it compiles to."""
