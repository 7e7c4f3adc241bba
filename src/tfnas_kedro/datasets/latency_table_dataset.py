"""Latency lookup tables in the catalog: parquet entries with the table's metadata in the file."""

from __future__ import annotations

import json
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.table_meta import meta_from_dict, meta_to_dict

from ._fsspec import FsspecVersionedDataset

_META_KEY = b"tfnas_kedro.latency_meta"


class LatencyTableDataset(FsspecVersionedDataset):
    """Saves a :class:`LatencyTable` as one parquet file (device, batch size, threads, resolution,
    torch version, date and calibration in its schema metadata); loads it back as a typed object.

    The file is plain parquet: ``pandas.read_parquet`` reads its entries in any tool.
    """

    BINARY = True

    def _read(self, stream: IO) -> LatencyTable:
        table = pq.read_table(stream)
        meta = (table.schema.metadata or {}).get(_META_KEY)
        if meta is None:
            raise ValueError(f"{self._filepath} is parquet but not a latency table (no {_META_KEY.decode()} metadata)")
        return LatencyTable(meta_from_dict(json.loads(meta)), table.to_pandas())

    def _write(self, data: LatencyTable, stream: IO) -> None:
        table = pa.Table.from_pandas(pd.DataFrame(data.entries), preserve_index=False)
        metadata = {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta_to_dict(data.meta)).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), stream)
