"""Data handling as a plain library (no Kedro): the demo data set, image checks, class ranking,
the class subset and its splits, and the loaders later pipelines train on."""
