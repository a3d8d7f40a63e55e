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
Every request is appended to $ARTIFACTS_DIR/predictions/<UTC date>.jsonl as one JSON line: the rows it
carried, the predictions answered and the model version that made them; monitoring reads these files.
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sklearn.pipeline import Pipeline

from . import data_pipeline, features, registry
from .config import ARTIFACTS_DIR
from .data import ID, TARGET
from .lifecycle import code_version, model_inputs
from .promotion import CHAMPION

PREDICTIONS_DIR = ARTIFACTS_DIR / "predictions"
# The model is handed `model_inputs`' values as an array: that function has already put the columns in the
# order the model was fitted on, and scikit-learn's check of a data frame's names costs more than the model.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
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
# When every column has the same (non-nullable) dtype, as numeric features do, a row is read as one tuple.
DTYPES = set(FRAME_DTYPES.values())
SINGLE_DTYPE = DTYPES.pop() if len(DTYPES) == 1 and len(FRAME_DTYPES) > 1 else None
ROW_VALUES = operator.attrgetter(*FRAME_DTYPES)


class PredictRequest(BaseModel):
    """A batch of rows to score."""

    model_config = ConfigDict(extra="forbid")
    rows: list[Row] = Field(min_length=1, max_length=MAX_ROWS)  # type: ignore[valid-type]


# /predict's request body in the OpenAPI document (/docs), as FastAPI would write it from PredictRequest.
REQUEST_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "title": "PredictRequest",
                    "type": "object",
                    "properties": {
                        "rows": {
                            "type": "array",
                            "items": Row.model_json_schema(),
                            "minItems": 1,
                            "maxItems": MAX_ROWS,
                        }
                    },
                    "required": ["rows"],
                    "additionalProperties": False,
                }
            }
        },
    }
}


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
    """The request rows as one data frame in the catalog's dtypes, built in one step per batch."""
    if SINGLE_DTYPE is not None:  # one 2-D array: the cheapest frame to build
        values = np.array([ROW_VALUES(row) for row in rows], dtype=SINGLE_DTYPE)
        return pd.DataFrame(values, columns=list(FRAME_DTYPES))
    return pd.DataFrame(
        {
            name: np.asarray([getattr(row, name) for row in rows], dtype=dtype)
            for name, dtype in FRAME_DTYPES.items()
        }
    )


class PredictionLog:
    """Appends one JSON line per request to PREDICTIONS_DIR/<UTC date>.jsonl.

    A line holds `timestamp`, `request_id`, `model_name`, `model_version`, `request` (the validated request
    body as it arrived: `{"rows": [...]}`) and `predictions` (what was answered, row by row). The body is
    written as received, so logging costs no second serialisation of the rows.
    """

    def __init__(self, folder: Path = PREDICTIONS_DIR) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, request_id: str, served: ServedModel, body: bytes, predictions: str) -> None:
        now = datetime.now(UTC)
        head = {
            "timestamp": now.isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "model_name": served.version.name,
            "model_version": served.version.version,
        }
        # JSON allows no raw line break inside a string, so replacing them keeps the body valid on one line
        request = body.decode("utf-8").replace("\n", " ").replace("\r", " ")
        line = f'{json.dumps(head)[:-1]}, "request": {request}, "predictions": {predictions}}}\n'
        with (self.folder / f"{now.date().isoformat()}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line)


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
    # The body is validated straight from its bytes (pydantic's JSON parser: no Python dicts in between);
    # errors get FastAPI's usual 422 shape, each `loc` starting with "body".
    @app.post("/predict", response_model=PredictResponse, openapi_extra=REQUEST_SCHEMA)
    async def predict(raw: Request) -> Response:
        """Score a batch of rows; each prediction comes with the probability and the model version."""
        body = await raw.body()
        try:
            request = PredictRequest.model_validate_json(body)
        except ValidationError as invalid:
            errors = invalid.errors(include_url=False)
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in errors]
            ) from None
        current: ServedModel = state["served"]
        inputs = model_inputs(frame_of(request.rows), current.model)
        probabilities = current.model.predict_proba(inputs.to_numpy())
        labels = current.model.classes_[probabilities.argmax(axis=1)].tolist()
        positive = probabilities[:, -1].round(6).tolist()
        ids = [getattr(row, ID) for row in request.rows]
        predictions = json.dumps(
            [
                {ID: key, "prediction": label, "probability": probability}
                for key, label, probability in zip(ids, labels, positive, strict=True)
            ]
        )
        request_id = uuid.uuid4().hex
        state["log"].write(request_id, current, body, predictions)
        answer = f'{{"request_id": "{request_id}"{state["answer_middle"]}{predictions}}}'
        return Response(answer, media_type="application/json")

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
