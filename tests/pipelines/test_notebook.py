import shutil

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.mark.slow
def test_walkthrough_notebook_runs_against_the_catalog(kedro_project, run_pipeline):
    import nbformat  # here, not at the top: 3 s of imports in every pytest process that collects this
    from nbclient import NotebookClient

    run_pipeline("zoo")
    notebooks = kedro_project / "notebooks"
    notebooks.mkdir()
    shutil.copy(PROJECT_ROOT / "notebooks" / "walkthrough.ipynb", notebooks)
    notebook = nbformat.read(notebooks / "walkthrough.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(notebooks)}}
    ).execute()
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "TF-NAS-A: 455.5M MACs" in text, text  # 456.7M with 1000 classes, minus 1280 x 900 for 100
    assert "logits (1, 100)" in text, text
    assert "TF-NAS-MBV2-B" in text and "macs_m" in text, text  # the zoo table from the catalog
    assert "no search yet" in text and "no search history yet" in text, text
    assert "no training yet" in text, text
