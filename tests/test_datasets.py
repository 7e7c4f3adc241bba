import pandas as pd
import pytest
import torch
from kedro.io.core import DatasetError, Version

from tfnas_kedro.artifacts import SearchTarget
from tfnas_kedro.datasets import ArchitectureDataset, ModelJSONDataset, TorchCheckpointDataset
from tfnas_kedro.nas import ArchDescription, zoo_arch


def test_architecture_dataset_versions_single_descriptions(tmp_path):
    path = tmp_path / "arch.json"
    first, second = zoo_arch("TF-NAS-A"), zoo_arch("TF-NAS-B")
    ArchitectureDataset(filepath=str(path), version=Version(None, "2026-01-01T00.00.00.000Z")).save(first)
    ArchitectureDataset(filepath=str(path), version=Version(None, "2026-01-02T00.00.00.000Z")).save(second)
    latest = ArchitectureDataset(filepath=str(path), version=Version(None, None)).load()
    older = ArchitectureDataset(filepath=str(path), version=Version("2026-01-01T00.00.00.000Z", None)).load()
    assert isinstance(latest, ArchDescription) and latest == second and older == first


def test_architecture_dataset_mapping_round_trip(tmp_path):
    archs = {name: zoo_arch(name) for name in ("TF-NAS-C", "TF-NAS-MBV2-A")}
    dataset = ArchitectureDataset(filepath=str(tmp_path / "zoo.json"))
    dataset.save(archs)
    assert dataset.load() == archs
    assert dataset.exists()


def test_architecture_dataset_rejects_other_data_and_reports_bad_files(tmp_path):
    dataset = ArchitectureDataset(filepath=str(tmp_path / "x.json"))
    with pytest.raises(DatasetError, match="ArchDescription"):
        dataset.save({"a": 1})
    (tmp_path / "x.json").write_text('{"blocks": [], "stem": {"out": 8, "act": "relu"}}')
    with pytest.raises(DatasetError, match="blocks"):
        dataset.load()


def test_checkpoint_dataset_round_trip_and_safe_loading(tmp_path):
    net = torch.nn.Linear(3, 2)
    checkpoint = {"epoch": 4, "model": net.state_dict(), "alpha": torch.randn(5, 8), "history": [{"loss": 1.5}]}
    # a fixed save version: a generated one can differ by a millisecond from the load version
    # Kedro resolves right after saving, which it warns about
    dataset = TorchCheckpointDataset(
        filepath=str(tmp_path / "ckpt.pt"), version=Version(None, "2026-12-05T00.00.00.000Z")
    )
    dataset.save(checkpoint)
    loaded = TorchCheckpointDataset(filepath=str(tmp_path / "ckpt.pt"), version=Version(None, None)).load()
    assert loaded["epoch"] == 4 and loaded["history"] == [{"loss": 1.5}]
    assert torch.equal(loaded["alpha"], checkpoint["alpha"])
    assert torch.equal(loaded["model"]["weight"], net.weight.detach())


class _NotAllowed:
    pass


def test_checkpoint_dataset_refuses_arbitrary_objects(tmp_path):
    dataset = TorchCheckpointDataset(filepath=str(tmp_path / "evil.pt"))
    dataset.save({"payload": _NotAllowed()})
    with pytest.raises(DatasetError, match="weights_only|Unsupported global"):
        dataset.load()


def test_latency_table_dataset_round_trip(tmp_path, spaces):
    from tests.conftest import synthetic_table
    from tfnas_kedro.datasets import LatencyTableDataset

    table = synthetic_table(spaces["tfnas_wose"], resolution=64, num_classes=10, step=64)
    table.meta.calibration = {"scale": 1.1, "networks": 4}  # validated on assignment
    dataset = LatencyTableDataset(filepath=str(tmp_path / "lut.parquet"), version=Version(None, None))
    dataset.save(table)
    loaded = LatencyTableDataset(filepath=str(tmp_path / "lut.parquet"), version=Version(None, None)).load()
    assert loaded.meta == table.meta
    pd.testing.assert_frame_equal(loaded.entries, table.entries)
    arch = zoo_arch("TF-NAS-C-wose", resolution=64, num_classes=10)
    assert loaded.predict(arch) == table.predict(arch)
    # the file is plain parquet for other tools
    assert len(pd.read_parquet(next((tmp_path / "lut.parquet").glob("*/lut.parquet")))) == len(table.entries)


def test_latency_table_dataset_rejects_other_parquet(tmp_path):
    from tfnas_kedro.datasets import LatencyTableDataset

    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DatasetError, match="not a latency table"):
        LatencyTableDataset(filepath=str(tmp_path / "x.parquet")).load()


def test_optional_dataset_is_none_until_written_then_reads_the_latest_version(tmp_path):
    import time

    from tfnas_kedro.datasets import OptionalDataset

    inner = {"type": "json.JSONDataset", "filepath": str(tmp_path / "summary.json"), "versioned": True}
    assert OptionalDataset(dataset=inner).load() is None
    writer_config = {"filepath": inner["filepath"]}
    from kedro_datasets.json import JSONDataset

    JSONDataset(**writer_config, version=Version(None, None)).save({"n": 1})
    time.sleep(0.01)  # versions are millisecond timestamps
    JSONDataset(**writer_config, version=Version(None, None)).save({"n": 2})
    assert OptionalDataset(dataset=inner).load() == {"n": 2}
    first = sorted(p.name for p in (tmp_path / "summary.json").iterdir())[0]
    assert OptionalDataset(dataset=inner, version=Version(first, None)).load() == {"n": 1}  # pinned
    (tmp_path / "summary.json" / first / "summary.json").write_text("{not json")
    with pytest.raises(DatasetError):  # present but corrupt: an error, not "missing"
        OptionalDataset(dataset=inner, version=Version(first, None)).load()


def test_a_typed_node_output_reads_back_as_itself_and_refuses_what_it_is_not(tmp_path):
    target = SearchTarget(
        target_ms=8.5, fraction=0.5, reachable_ms=(3.0, 14.0), space="tfnas", device="cpu", device_name="x86",
        runtime="torch",
    )  # fmt: skip
    dataset = ModelJSONDataset(filepath=str(tmp_path / "target.json"), model="tfnas_kedro.artifacts.SearchTarget")
    dataset.save(target)
    assert dataset.load() == target and isinstance(dataset.load(), SearchTarget)
    assert '"target_ms": 8.5' in (tmp_path / "target.json").read_text()  # readable JSON
    with pytest.raises(DatasetError, match="of SearchTarget got a dict"):
        dataset.save(target.model_dump())
    (tmp_path / "target.json").write_text('{"target_ms": 8.5}')
    with pytest.raises(DatasetError, match="is not a SearchTarget"):
        dataset.load()
    with pytest.raises(DatasetError, match="is not a pydantic model"):
        ModelJSONDataset(filepath=str(tmp_path / "t.json"), model="tfnas_kedro.nas.zoo_arch")


def test_a_dataset_saved_without_a_version_is_saved_under_the_version_it_reports(tmp_path, spaces, monkeypatch):
    """Every timestamp drawn is a new one here, as when a save crosses a millisecond: a save that
    drew two (Kedro's versioned wrapper applied twice) wrote under one and reported the other."""
    import warnings

    import kedro.io.core

    from tests.conftest import synthetic_table
    from tfnas_kedro.datasets import LatencyTableDataset

    stamps = iter(f"2026-01-01T00.00.{second:02d}.000Z" for second in range(60))
    monkeypatch.setattr(kedro.io.core, "generate_timestamp", lambda: next(stamps))
    table = synthetic_table(spaces["tfnas_wose"], resolution=64, num_classes=10, step=64)
    dataset = LatencyTableDataset(filepath=str(tmp_path / "lut.parquet"), version=Version(None, None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Kedro warns when the version saved under is not the one it reports
        dataset.save(table)
    assert [p.name for p in (tmp_path / "lut.parquet").iterdir()] == [dataset.resolve_save_version()]
