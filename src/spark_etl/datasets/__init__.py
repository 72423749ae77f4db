"""Source and sink strategies: one Kedro dataset class per system behind one base."""

from spark_etl.datasets._state import StateEntry, StateSlot, StateStore, state_store
from spark_etl.datasets.base import EtlDataset, WriteBreaker, WriteMode
from spark_etl.datasets.delta import DeltaDataset
from spark_etl.datasets.jdbc import JDBCDataset
from spark_etl.datasets.kafka import KafkaDataset
from spark_etl.datasets.s3 import S3Dataset

__all__ = [
    "DeltaDataset",
    "EtlDataset",
    "JDBCDataset",
    "KafkaDataset",
    "S3Dataset",
    "StateEntry",
    "StateSlot",
    "StateStore",
    "WriteBreaker",
    "WriteMode",
    "state_store",
]
