"""Hardware drivers: pure protocol cores, real backends and simulators."""
