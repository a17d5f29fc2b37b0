"""Geography: the map projection, shipped boundaries, and "which region is this point in"."""
