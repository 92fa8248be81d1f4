"""MLflow "models from code" entry: the pyfunc that wraps a ScanModel, logged without pickling.

``mlflow.pyfunc.load_model("models:/riskscan-vw/<version>").predict(frame)`` takes a DataFrame of raw
input columns and returns calibrated probabilities: the feature pipeline travels inside the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

from models.scorer import ScanModel


class ScanModelPyfunc(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.scan_model = ScanModel.load(Path(context.artifacts["scan_model"]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> np.ndarray:
        return self.scan_model.predict_proba(model_input)


set_model(ScanModelPyfunc())
