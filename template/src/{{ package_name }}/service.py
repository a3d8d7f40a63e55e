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
with a 422 that names it. The features are computed by `features.compute`, the code training used, and
handed to the model in the column order it was fitted on.
Every request is appended to $ARTIFACTS_DIR/predictions/<UTC date>.jsonl as one JSON line: the rows it
carried, the predictions answered and the model version (and alias) that made them; monitoring and
`make canary-report` read these files.

Canary: when config/deploy.toml `[canary] challenger_share` is above 0 and the registry's `challenger`
alias points at another version than `champion`, the service loads both and lets the challenger answer
that share of the requests. A request goes to one or the other by a stable hash of its key: the
`X-Request-Key` header when the caller sends one (a user or session id keeps a caller on one model), else
the first row's value of the column `[canary] key` names (`id` by default), else the request's own id
(random: such a request still counts toward the split, but is not sticky). The same key always reaches
the same model, in every replica and after restarts. /metadata shows the split.
"""

from __future__ import annotations

import argparse
import hashlib
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
from .config import ARTIFACTS_DIR, load_config
from .data import ID, TARGET
from .lifecycle import code_version
from .promotion import CHAMPION

PREDICTIONS_DIR = ARTIFACTS_DIR / "predictions"
KEY_HEADER = "x-request-key"
# The model is handed its inputs as an array (`Route.inputs` has already put the columns in the order the
# model was fitted on), as scikit-learn's check of a data frame's names costs more than the model.
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
    model_version: str = Field(description="the registry version that answered")
    alias: str = Field(description="`champion`, or `challenger` when the canary answered")
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


def canary_settings() -> dict[str, Any]:
    """config/deploy.toml [canary]: the challenger's share of the requests and the row column keying them."""
    config = dict(load_config("deploy").get("canary", {}))
    share, key = float(config.get("challenger_share", 0.0)), str(config.get("key", ID))
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"config/deploy.toml: canary.challenger_share is {share}; it must be within 0 and 1")
    if key not in COLUMNS:
        raise ValueError(f"config/deploy.toml: canary.key {key!r} is no input column ({', '.join(COLUMNS)})")
    return {"challenger_share": share, "key": key}


def bucket(key: str) -> float:
    """Where a request key falls in [0, 1): a stable hash (the same in every process, unlike hash())."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Canary:
    """The challenger answering `share` of the requests, chosen by a stable hash of each request's key."""

    challenger: ServedModel
    share: float
    key: str = ID

    def takes(self, key: str) -> bool:
        """Whether the challenger answers the request with this key."""
        return bucket(key) < self.share

    @classmethod
    def load(cls, champion: ServedModel) -> Canary | None:
        """The registry's challenger as a canary, if [canary] gives it a share and it is not the champion."""
        config = canary_settings()
        if config["challenger_share"] <= 0:
            return None
        alias = str(registry.settings()["alias"])
        found = registry.find(alias)
        if found is None or found.version == champion.version.version:
            return None
        challenger = ServedModel(model=registry.load_version(found.version), version=found, alias=alias)
        return cls(challenger=challenger, share=config["challenger_share"], key=config["key"])


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

    A line holds `timestamp`, `request_id`, `model_name`, `model_version` and `alias` (of the model that
    answered), `request` (the validated request
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
            "alias": served.alias,
        }
        # JSON allows no raw line break inside a string, so replacing them keeps the body valid on one line
        request = body.decode("utf-8").replace("\n", " ").replace("\r", " ")
        line = f'{json.dumps(head)[:-1]}, "request": {request}, "predictions": {predictions}}}\n'
        with (self.folder / f"{now.date().isoformat()}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line)


def metadata(served: ServedModel, canary: Canary | None = None) -> dict[str, Any]:
    """What /metadata answers; `canary` is the split when a challenger answers part of the requests."""
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
        "canary": None
        if canary is None
        else {
            "key": f"the {KEY_HEADER} header, else the first row's {canary.key!r}, else the request id",
            "champion": {"version": served.version.version, "share": round(1.0 - canary.share, 6)},
            "challenger": {
                "alias": canary.challenger.alias,
                "version": canary.challenger.version.version,
                "run_id": canary.challenger.version.run_id,
                "share": canary.share,
            },
        },
    }


class Route:
    """A model the service answers with, and the constant part of its answers."""

    def __init__(self, served: ServedModel) -> None:
        self.served = served
        self.model = served.model
        self.classes = served.model.classes_
        head = {
            "model_name": served.version.name,
            "model_version": served.version.version,
            "alias": served.alias,
        }
        self.answer_middle = ", " + json.dumps(head)[1:-1] + ', "predictions": '
        self.positions: dict[tuple[str, ...], list[int]] = {}

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's inputs: the declared features of the rows, in the columns' order it was fitted on.

        What `lifecycle.model_inputs` computes, as an array: the positions of the fitted columns are looked
        up once per column layout rather than reselected by name in every request.
        """
        computed = features.compute(frame)
        layout = tuple(computed.columns)
        if layout not in self.positions:
            fitted = getattr(self.model, "feature_names_in_", None)
            names = list(fitted) if fitted is not None else [c for c in layout if c not in (ID, TARGET)]
            self.positions[layout] = [layout.index(name) for name in names]
        return computed.to_numpy()[:, self.positions[layout]]


def create_app(
    served: ServedModel | None = None,
    alias: str = CHAMPION,
    canary: Canary | None = None,
    log_dir: Path | None = None,
) -> FastAPI:
    """The service.

    Without `served` it loads the `alias` version of the registry when it starts and, when that is the
    champion, the challenger as a canary if config/deploy.toml [canary] asks for one. Given `served`, it
    serves that model, with `canary` beside it if one is given. Predictions are logged below `log_dir`
    (PREDICTIONS_DIR unless given).
    """
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["served"] = served or ServedModel.load(alias)
        split = canary
        if split is None and served is None and alias == CHAMPION:
            split = Canary.load(state["served"])
        state["canary"] = split
        state["champion"] = Route(state["served"])
        state["challenger"] = None if split is None else Route(split.challenger)
        state["metadata"] = metadata(state["served"], split)
        state["log"] = PredictionLog(log_dir or PREDICTIONS_DIR)
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
        request_id = uuid.uuid4().hex
        route: Route = state["champion"]
        split: Canary | None = state["canary"]
        if split is not None:
            key = raw.headers.get(KEY_HEADER) or getattr(request.rows[0], split.key)
            if split.takes(request_id if key is None else str(key)):
                route = state["challenger"]
        probabilities = route.model.predict_proba(route.inputs(frame_of(request.rows)))
        labels = route.classes[probabilities.argmax(axis=1)].tolist()
        positive = probabilities[:, -1].round(6).tolist()
        ids = [getattr(row, ID) for row in request.rows]
        predictions = json.dumps(
            [
                {ID: key, "prediction": label, "probability": probability}
                for key, label, probability in zip(ids, labels, positive, strict=True)
            ]
        )
        state["log"].write(request_id, route.served, body, predictions)
        answer = '{"request_id": "' + request_id + '"' + route.answer_middle + predictions + "}"
        return Response(answer, media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the registry's champion over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--alias", default=CHAMPION, help="the registry alias to serve (default champion)")
    parser.add_argument("--access-log", action="store_true", help="log every request line (slower)")
    parser.add_argument(
        "--no-canary", action="store_true", help="serve the alias alone, whatever [canary] says"
    )
    parser.add_argument(
        "--log-dir", type=Path, help=f"where the prediction logs go (default {PREDICTIONS_DIR})"
    )
    args = parser.parse_args(argv)
    try:
        served = ServedModel.load(args.alias)
    except NoChampionError as missing:
        print(missing, file=sys.stderr)
        return 1
    canary = None if args.no_canary or args.alias != CHAMPION else Canary.load(served)
    print(
        f"serving {served.version.name} version {served.version.version} ({args.alias}) on "
        f"http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    if canary is not None:
        print(
            f"canary: version {canary.challenger.version.version} ({canary.challenger.alias}) answers "
            f"{canary.share:.0%} of the requests, by a hash of the {KEY_HEADER} header or {canary.key!r}",
            file=sys.stderr,
        )
    app = create_app(served, canary=canary, log_dir=args.log_dir)
    uvicorn.run(app, host=args.host, port=args.port, access_log=args.access_log)
    return 0


app = create_app()

if __name__ == "__main__":
    sys.exit(main())
