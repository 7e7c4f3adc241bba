import pytest

from tfnas_kedro.nas import build_network, count_macs, count_params, measure_macs, zoo_arch, zoo_names


@pytest.mark.parametrize("name", zoo_names())
def test_analytical_counts_equal_torch_counts(name):
    arch = zoo_arch(name)
    net = build_network(arch)
    assert count_params(arch) == sum(p.numel() for p in net.parameters())
    assert count_macs(arch) == measure_macs(net, 224)
    assert count_macs(arch, 64) == measure_macs(net, 64)


def test_macs_scale_with_resolution_and_classes():
    arch = zoo_arch("TF-NAS-B")
    assert count_macs(arch, 448) > 3.9 * count_macs(arch, 224)
    fewer = arch.with_updates(num_classes=10)
    assert count_macs(arch) - count_macs(fewer) == 1280 * 990
    assert count_params(arch) - count_params(fewer) == 1281 * 990


def test_published_gpu_models_are_ordered_by_cost():
    macs = [count_macs(zoo_arch(n)) for n in ("TF-NAS-A", "TF-NAS-B", "TF-NAS-C", "TF-NAS-D")]
    assert macs == sorted(macs, reverse=True)
    # the paper reports 457M (A) and 219M (D) multiply-adds: the transcription and the count agree
    assert round(macs[0] / 1e6) == 457 and round(macs[3] / 1e6) == 219
