"""In-process reference systems: the constant baseline, LightGBM defaults and the Optuna searchers,
with the model families and the CV evaluation they share."""
