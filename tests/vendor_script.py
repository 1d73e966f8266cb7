"""An outside party's script: trains on the vendor package alone and writes holdout predictions.

    python tests/vendor_script.py VENDOR_FOLDER PREDICTIONS.csv

It sees search.csv (with labels) and holdout_features.csv (without), and prints its own 5-fold
CV ROC AUC: the score it would claim.
"""

import json
import sys
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
manifest = json.loads((folder / "manifest.json").read_text())
search = pd.read_csv(folder / "search.csv")
holdout = pd.read_csv(folder / "holdout_features.csv")
target, positive = manifest["target"], manifest["classes"][-1]
y = (search.pop(target).astype(str) == positive).astype(int)
X = search.drop(columns=["row_id"])
ids = holdout.pop("row_id")
for col in X.columns:
    if not pd.api.types.is_numeric_dtype(X[col]):
        cats = pd.CategoricalDtype(sorted(X[col].dropna().unique()))
        X[col], holdout[col] = X[col].astype(cats), holdout[col].astype(cats)
model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05,
                                       categorical_features="from_dtype",
                                       random_state=0)
print(cross_val_score(model, X, y, cv=5, scoring="roc_auc").mean())
model.fit(X, y)
pd.DataFrame({"row_id": ids, positive: model.predict_proba(holdout)[:, 1]}).to_csv(out, index=False)
