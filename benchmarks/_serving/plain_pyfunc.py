"""MLflow "models from code": the champion as a plain pyfunc, the way a user would log it for MLflow serving.

The second anchor of bench_serving. The registered riskscan pyfunc validates its input with pandera inside
``predict``, which made MLflow look slow for a reason of ours; this one scores like the bare service
(:class:`plain_model.PlainModel`: feature row, calibrated score, ``pred_contrib``) and nothing else. The
benchmark saves it with :func:`save_plain_pyfunc` and serves the folder with ``mlflow models serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext
from plain_model import PlainModel


class PlainPyfunc(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.model = PlainModel(Path(context.artifacts["plain"]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> list[dict[str, Any]]:
        return self.model.score(model_input.to_dict("records"))


set_model(PlainPyfunc())
