"""The prediction service: `make serve` answers on http://127.0.0.1:8000 (interactive docs at /docs).

- `GET /health`: ok, with the version being served.
- `POST /predict`: `{"rows": [{...}, ...]}` in; a prediction and a probability per row and the model
  version out. A row has the input columns of config/catalog.yml's schema (every column but the target);
  `id` is optional and is echoed back so you can join predictions with labels later.
- `GET /metadata`: the model answering: name, registry version and alias, run, data and code version, and
  the features it reads (the raw columns and the ones features.py derives from them).

At start-up the service loads the registry version that the `champion` alias points at
(`make pipeline && make promote` put one there) and keeps it: after a promotion, restart the service.
Rows are validated against the catalog's types and bounds: a missing, extra or mistyped field is answered
with a 422 that names it. The features are computed by `lifecycle.model_inputs`, the code training used.
Every prediction is appended, with the model version that made it and the row it was made for, as one
JSON line to $ARTIFACTS_DIR/predictions/<UTC date>.jsonl; monitoring reads these files.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from sklearn.pipeline import Pipeline

from . import data_pipeline, features, registry
from .config import ARTIFACTS_DIR
from .data import ID, TARGET
from .lifecycle import code_version, model_inputs
from .promotion import CHAMPION

PREDICTIONS_DIR = ARTIFACTS_DIR / "predictions"
MAX_ROWS = 10_000
# The catalog's dtypes and the JSON values a request may carry for them (strictly: "1.5" is no number).
PYTHON_TYPES: dict[str, type] = {"int64": int, "float64": float, "bool": bool, "str": str, "object": str}


def input_columns() -> dict[str, dict[str, Any]]:
    """The catalog's schema of the source without the target: what a request row carries."""
    schema = data_pipeline.catalog_entry()["schema"]
    return {name: spec for name, spec in schema.items() if name != TARGET}


def row_model(columns: dict[str, dict[str, Any]]) -> type[BaseModel]:
    """The request row as a pydantic model: each column with its type and bounds; `id` may be left out."""
    fields: dict[str, Any] = {}
    for name, spec in columns.items():
        dtype = str(spec["dtype"])
        if dtype not in PYTHON_TYPES:
            raise ValueError(
                f"config/catalog.yml: column {name!r} has dtype {dtype!r}; the service takes "
                f"{', '.join(PYTHON_TYPES)}"
            )
        annotation: Any = PYTHON_TYPES[dtype]
        if "allowed" in spec:
            annotation = Literal[tuple(spec["allowed"])]
        bounds = {key: spec[source] for key, source in (("ge", "min"), ("le", "max")) if source in spec}
        if annotation is float:
            bounds["allow_inf_nan"] = False
        optional = name == ID or bool(spec.get("nullable"))
        fields[name] = (
            annotation | None if optional else annotation,
            Field(None if optional else ..., description=spec.get("description"), **bounds),
        )
    return create_model("Row", __config__=ConfigDict(extra="forbid", strict=True), **fields)


COLUMNS = input_columns()
Row = row_model(COLUMNS)
# The columns the model's features are computed from, with the dtype the catalog gives them.
FRAME_DTYPES = {
    name: (None if spec.get("nullable") else str(spec["dtype"]))
    for name, spec in COLUMNS.items()
    if name != ID
}


class PredictRequest(BaseModel):
    """A batch of rows to score."""

    model_config = ConfigDict(extra="forbid")
    rows: list[Row] = Field(min_length=1, max_length=MAX_ROWS)  # type: ignore[valid-type]


class Prediction(BaseModel):
    id: int | str | None
    prediction: int | float | str | bool
    probability: float = Field(description="the probability of the positive class (the model's last class)")


class PredictResponse(BaseModel):
    request_id: str = Field(description="the key of this batch's lines in the prediction log")
    model_name: str
    model_version: str
    predictions: list[Prediction]


class NoChampionError(LookupError):
    """The registry has no version with the alias the service is to serve."""


@dataclass(frozen=True)
class ServedModel:
    """The model being served and the registry version it was loaded from."""

    model: Pipeline
    version: registry.ModelVersion
    alias: str

    @classmethod
    def load(cls, alias: str = CHAMPION) -> ServedModel:
        """The version an alias points at now, loaded by its number so a later alias move cannot mix them."""
        found = registry.find(alias)
        if found is None:
            raise NoChampionError(
                f"no version of {registry.settings()['model_name']!r} has the alias {alias!r}: "
                "run `make pipeline && make promote` first"
            )
        return cls(model=registry.load_version(found.version), version=found, alias=alias)


def frame_of(rows: list[BaseModel]) -> pd.DataFrame:
    """The request rows as one data frame, column by column, in the catalog's dtypes."""
    return pd.DataFrame(
        {
            name: np.asarray([getattr(row, name) for row in rows], dtype=dtype)
            for name, dtype in FRAME_DTYPES.items()
        }
    )


class PredictionLog:
    """Appends each scored row, with the model version, as a JSON line to PREDICTIONS_DIR/<UTC date>.jsonl."""

    def __init__(self, folder: Path = PREDICTIONS_DIR) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, request_id: str, rows: pd.DataFrame, scored: dict[str, Any], served: ServedModel) -> None:
        now = datetime.now(UTC)
        logged = rows.assign(**scored, model_name=served.version.name, model_version=served.version.version)
        logged.insert(0, "request_id", request_id)
        logged.insert(0, "timestamp", now.isoformat(timespec="milliseconds"))
        lines = logged.to_json(orient="records", lines=True)
        with (self.folder / f"{now.date().isoformat()}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(lines if lines.endswith("\n") else lines + "\n")


def metadata(served: ServedModel) -> dict[str, Any]:
    """What /metadata answers."""
    fitted = getattr(served.model, "feature_names_in_", None)
    return {
        "model_name": served.version.name,
        "registry_version": served.version.version,
        "alias": served.alias,
        "run_id": served.version.run_id,
        "data_version": served.version.tags.get("data_version"),
        "code_version": served.version.tags.get("code_version"),
        "service_code_version": code_version(),
        "features": [str(name) for name in fitted] if fitted is not None else list(FRAME_DTYPES),
        "derived_features": features.names(),
        "input_columns": list(COLUMNS),
    }


def create_app(served: ServedModel | None = None, alias: str = CHAMPION) -> FastAPI:
    """The service; without `served` it loads the `alias` version of the registry when it starts."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["served"] = served or ServedModel.load(alias)
        state["metadata"] = metadata(state["served"])
        state["log"] = PredictionLog()
        model = {"model_name": state["served"].version.name, "model_version": state["served"].version.version}
        state["answer_middle"] = ", " + json.dumps(model)[1:-1] + ', "predictions": '
        yield

    app = FastAPI(title="model service", summary=__doc__.splitlines()[0], lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Ok once the model is loaded, with the version being served."""
        return {"status": "ok", "model_version": state["served"].version.version}

    @app.get("/metadata")
    async def describe() -> dict[str, Any]:
        """The model being served: name, registry version, alias, run, data and code version, features."""
        return state["metadata"]

    # The handler is `async` and computes in place: scoring is CPU-bound, so a thread hop would only add time.
    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: PredictRequest) -> Response:
        """Score a batch of rows; each prediction comes with the probability and the model version."""
        current: ServedModel = state["served"]
        rows = frame_of(request.rows)
        probabilities = current.model.predict_proba(model_inputs(rows, current.model))
        scored = {
            ID: [getattr(row, ID) for row in request.rows],
            "prediction": current.model.classes_[probabilities.argmax(axis=1)],
            "probability": probabilities[:, -1].round(6),
        }
        request_id = uuid.uuid4().hex
        state["log"].write(request_id, rows, scored, current)
        predictions = pd.DataFrame(scored).to_json(orient="records")
        body = f'{{"request_id": "{request_id}"{state["answer_middle"]}{predictions}}}'
        return Response(body, media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the registry's champion over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--alias", default=CHAMPION, help="the registry alias to serve (default champion)")
    parser.add_argument("--access-log", action="store_true", help="log every request line (slower)")
    args = parser.parse_args(argv)
    try:
        served = ServedModel.load(args.alias)
    except NoChampionError as missing:
        print(missing, file=sys.stderr)
        return 1
    print(
        f"serving {served.version.name} version {served.version.version} ({args.alias}) on "
        f"http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    uvicorn.run(create_app(served), host=args.host, port=args.port, access_log=args.access_log)
    return 0


app = create_app()

if __name__ == "__main__":
    sys.exit(main())
