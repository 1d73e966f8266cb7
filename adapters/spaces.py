"""Shared search spaces and their translation into Optuna suggestions.

Four spaces over four model families (Bayesmark's families), so that strategies are compared on
more than one response surface: `gbm11` (LightGBM), `rf6` (random forest), `linear3` (logistic
regression / elastic net, with a conditional l1_ratio) and `mlp6` (a small neural network).
Hyperparameters without a `default` have a library default outside the range (`max_depth=None`,
`max_features='sqrt'` for the forest).

`gbm11`: eleven LightGBM hyperparameters (scikit-learn API names). Every value is passed to
LightGBM as is; `default` is the library default.

==================  =====  ==============  ===  =======  ==========================================
name                type   range           log  default  meaning
==================  =====  ==============  ===  =======  ==========================================
learning_rate       float  [0.005, 0.3]    yes  0.1      shrinkage per boosting round
num_leaves          int    [8, 256]        yes  31       max leaves per tree
max_depth           int    [-1, 12]        no   -1       max tree depth; <= 0 means no limit
min_child_samples   int    [5, 100]        yes  20       min rows per leaf
subsample           float  [0.5, 1.0]      no   1.0      row fraction per bagging round
subsample_freq      int    [0, 10]         no   0        bag every k rounds; 0 disables bagging
colsample_bytree    float  [0.4, 1.0]      no   1.0      feature fraction per tree
reg_alpha           float  [1e-8, 10]      yes  1e-8     L1 penalty on leaf values
reg_lambda          float  [1e-8, 10]      yes  1e-8     L2 penalty on leaf values
min_split_gain      float  [0, 1]          no   0.0      min loss reduction to split
n_estimators        int    [50, 1000]      yes  100      boosting rounds
==================  =====  ==============  ===  =======  ==========================================

`max_depth` keeps LightGBM's own encoding: -1 and 0 both mean "no limit" (so a uniform draw picks
an unlimited depth with probability 2/14) and 1 grows stumps; positive depths also cap the
effective number of leaves at 2**max_depth. The library default of `reg_alpha` and `reg_lambda`
is 0, which a log range cannot hold; their default is the range's lower end 1e-8, the same model
for all practical purposes. `subsample` has no effect while `subsample_freq` is 0.
"""

from __future__ import annotations

from typing import Any, cast

import optuna

from adapters.contract import Hyperparameter, SearchSpace

GBM11 = SearchSpace(
    name="gbm11",
    description="LightGBM: 11 hyperparameters of the scikit-learn API, library defaults",
    hyperparameters=(
        Hyperparameter("learning_rate", "float", 0.005, 0.3, log=True, default=0.1),
        Hyperparameter("num_leaves", "int", 8, 256, log=True, default=31),
        Hyperparameter("max_depth", "int", -1, 12, default=-1),
        Hyperparameter("min_child_samples", "int", 5, 100, log=True, default=20),
        Hyperparameter("subsample", "float", 0.5, 1.0, default=1.0),
        Hyperparameter("subsample_freq", "int", 0, 10, default=0),
        Hyperparameter("colsample_bytree", "float", 0.4, 1.0, default=1.0),
        Hyperparameter("reg_alpha", "float", 1e-8, 10.0, log=True, default=1e-8),
        Hyperparameter("reg_lambda", "float", 1e-8, 10.0, log=True, default=1e-8),
        Hyperparameter("min_split_gain", "float", 0.0, 1.0, default=0.0),
        Hyperparameter("n_estimators", "int", 50, 1000, log=True, default=100),
    ),
)

RF6 = SearchSpace(
    name="rf6",
    description="random forest (scikit-learn): 6 hyperparameters",
    hyperparameters=(
        Hyperparameter("n_estimators", "int", 20, 500, log=True, default=100),
        Hyperparameter("max_depth", "int", 2, 40, log=True),
        Hyperparameter("min_samples_split", "int", 2, 40, log=True, default=2),
        Hyperparameter("min_samples_leaf", "int", 1, 40, log=True, default=1),
        Hyperparameter("max_features", "float", 0.05, 1.0, log=True),
        Hyperparameter("bootstrap", "categorical", choices=(True, False), default=True),
    ),
)

LINEAR3 = SearchSpace(
    name="linear3",
    description="logistic regression (elastic net for regression): 3 hyperparameters",
    hyperparameters=(
        Hyperparameter("C", "float", 1e-4, 1e4, log=True, default=1.0),
        Hyperparameter("penalty", "categorical", choices=("l2", "l1", "elasticnet"), default="l2"),
        Hyperparameter("l1_ratio", "float", 0.05, 0.95, default=0.5,
                       condition=("penalty", ("elasticnet",))),
    ),
)

MLP6 = SearchSpace(
    name="mlp6",
    description="multi-layer perceptron (scikit-learn, early stopping): 6 hyperparameters",
    hyperparameters=(
        Hyperparameter("layers", "int", 1, 3, default=1),
        Hyperparameter("width", "int", 16, 256, log=True, default=100),
        Hyperparameter("alpha", "float", 1e-6, 1e-1, log=True, default=1e-4),
        Hyperparameter("learning_rate_init", "float", 1e-4, 1e-1, log=True, default=1e-3),
        Hyperparameter("batch_size", "int", 16, 256, log=True, default=200),
        Hyperparameter("max_iter", "int", 50, 400, log=True, default=200),
    ),
)

SPACES: dict[str, SearchSpace] = {s.name: s for s in (GBM11, RF6, LINEAR3, MLP6)}
# the model family (adapters.searchers.families) each space configures
FAMILY_OF: dict[str, str] = {"gbm11": "lgbm", "rf6": "rf", "linear3": "linear", "mlp6": "mlp"}


def bounds(hp: Hyperparameter) -> tuple[float, float]:
    """A numeric hyperparameter's (low, high), which a well-formed space always sets."""
    return cast(float, hp.low), cast(float, hp.high)


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Draw one configuration of `space` from an Optuna trial.

    Hyperparameters are drawn in order; a conditional one is skipped unless its parent (listed
    earlier) was drawn with one of the condition's values.
    """
    config: dict[str, Any] = {}
    for hp in space.hyperparameters:
        if hp.condition is not None:
            parent, values = hp.condition
            if parent not in config or config[parent] not in values:
                continue
        if hp.kind == "categorical":
            config[hp.name] = trial.suggest_categorical(hp.name, list(hp.choices))
        elif hp.kind == "int":
            low, high = bounds(hp)
            config[hp.name] = trial.suggest_int(hp.name, int(low), int(high), log=hp.log)
        else:
            config[hp.name] = trial.suggest_float(hp.name, *bounds(hp), log=hp.log)
    return config


def default_config(space: SearchSpace) -> dict[str, Any]:
    """The library defaults that the space states (inactive conditionals left out)."""
    config: dict[str, Any] = {}
    for hp in space.hyperparameters:
        if hp.default is None:
            continue
        if hp.condition is not None and config.get(hp.condition[0]) not in hp.condition[1]:
            continue
        config[hp.name] = hp.default
    return config
