import resource

import torch

from tfnas_kedro.nas.allocator import keep_freed_memory


def _page_faults_filling(numel: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    tensor = torch.ones(numel)  # written once: every page is touched
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del tensor
    return faults


def test_freed_memory_is_reused_without_page_faults():
    # glibc's defaults map and unmap a 64 MiB tensor every time: 16384 page faults per round, forever
    assert keep_freed_memory() and keep_freed_memory()  # applies (Linux, glibc); a second call changes nothing
    numel = 64 * 2**20 // 4  # above the largest mmap threshold glibc would pick itself
    faults = [_page_faults_filling(numel) for _ in range(10)]
    pages = numel * 4 // resource.getpagesize()
    # the heap grows for the first rounds (each freed block sits below the next one's bookkeeping),
    # then the freed blocks, merged, serve every round
    assert max(faults[-3:]) < 0.05 * pages, faults
