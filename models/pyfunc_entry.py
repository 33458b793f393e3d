"""Models-from-code entry point: MLflow runs this file to build the pyfunc, so no pickle is stored."""

import mlflow

from churnguard.models.package import ChurnModel

mlflow.models.set_model(ChurnModel())
